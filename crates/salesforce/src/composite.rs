//! Pure builders and parsers for Composite requests carrying queries and sObject Collections.
