//! `trailspark fields` end to end.
