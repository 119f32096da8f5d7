//! Paths to the guest plugins, built from source for the host's tests and benchmarks.
//!
//! The build script compiles `plugins/fs`, `plugins/http`, `tests/guests/hostile` and
//! `tests/guests/trivial` to `wasm32-wasip2` components with the workspace's `guest` profile,
//! into the shared target directory (`target/wasm32-wasip2/guest/`), so no binary is ever
//! checked in and the CLI, the xtask and the tests all run the same files. Each guest has two
//! consts:
//!
//! - [`FS`], [`HTTP`], [`HOSTILE`], [`TRIVIAL`]: absolute path of the `.wasm` component;
//! - [`FS_BUNDLE_DIR`], [`HTTP_BUNDLE_DIR`], [`HOSTILE_BUNDLE_DIR`], [`TRIVIAL_BUNDLE_DIR`]:
//!   absolute path of the plugin's source folder, which holds its `bundle.toml` (whose `wasm`
//!   entries name files in [`WASM_DIR`]).
//!
//! Depending on this crate is what makes a test rebuild the guests when their sources change.

#![forbid(unsafe_code)]

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Each const names a component (the component-model preamble, not a core module).
    #[test]
    fn artifacts_are_components_next_to_their_bundles() {
        const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        for (wasm, bundle_dir) in [
            (super::FS, super::FS_BUNDLE_DIR),
            (super::HTTP, super::HTTP_BUNDLE_DIR),
            (super::HOSTILE, super::HOSTILE_BUNDLE_DIR),
            (super::TRIVIAL, super::TRIVIAL_BUNDLE_DIR),
        ] {
            let bytes = match std::fs::read(wasm) {
                Ok(bytes) => bytes,
                Err(err) => panic!("{wasm}: {err}"),
            };
            assert_eq!(bytes.get(..8), Some(&COMPONENT_HEADER[..]), "{wasm}");
            assert!(
                Path::new(bundle_dir).join("bundle.toml").is_file(),
                "{bundle_dir}"
            );
            assert_eq!(Path::new(wasm).parent(), Some(Path::new(super::WASM_DIR)));
        }
    }
}
