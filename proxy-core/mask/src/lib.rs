//! gatehouse-mask
