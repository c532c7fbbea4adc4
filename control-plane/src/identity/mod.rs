//! Who is calling: token checking for the MCP path (`auth`, `oidc`), the OAuth
//! authorization server MCP clients sign in through (`authz`), and browser sign-in for the
//! dashboard (`signin`).

pub mod auth;
pub mod authz;
pub(crate) mod oidc;
pub mod signin;
