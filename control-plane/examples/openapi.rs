//! Prints the JSON API's OpenAPI document (as `gatehouse openapi` does) without building
//! the CLI: `scripts/gen-api-types.sh` generates the dashboard's types from it.

fn main() {
    println!("{}", gatehouse_control_plane::api::openapi::json());
}
