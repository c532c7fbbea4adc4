//! gatehouse-audit
