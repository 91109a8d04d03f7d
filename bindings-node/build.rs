//! Lets napi-build set the linker arguments a Node addon needs on the host platform.

fn main() {
    napi_build::setup();
}
