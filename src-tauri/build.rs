//! Build script: runs `tauri-build` only for the desktop shell, so engine builds need no Tauri.

fn main() {
    // Without these, cargo reruns the script whenever any file changes.
    println!("cargo:rerun-if-changed=src-tauri/build.rs");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=icons");
    #[cfg(feature = "desktop")]
    desktop();
}

/// Capabilities live beside the shell's code; tauri-build only looks in `./capabilities/`
/// unless told, and watches only its default directory.
#[cfg(feature = "desktop")]
fn desktop() {
    let attributes =
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*");
    if let Err(error) = tauri_build::try_build(attributes) {
        println!("cargo:warning=tauri-build failed: {error:#}");
        std::process::exit(1);
    }
}
