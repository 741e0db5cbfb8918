//! OAuth 2.0 endpoints of the emulated org (`/services/oauth2/...`) and its sessions.
