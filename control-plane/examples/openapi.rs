//! Prints the JSON API's OpenAPI document (as `gatehouse openapi` does) without building
//! the CLI: `scripts/gen-api-types.sh` generates the dashboard's types from it.

fn main() {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", gatehouse_control_plane::api::openapi::json()).expect("stdout is writable");
}
