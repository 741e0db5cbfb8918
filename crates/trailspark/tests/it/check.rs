//! `trailspark check` end to end.
