//! SPEC 4: windows, digests, accounting.
