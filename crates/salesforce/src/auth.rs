//! OAuth token requests: each flow is one form POST to `<login>/services/oauth2/token`.
