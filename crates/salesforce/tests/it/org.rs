//! End to end against the emulated org (sfsim).
