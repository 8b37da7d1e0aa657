//! The FUSE side of ninep-mount: serves a 9P tree to the kernel through
//! the `fuse3` crate, mapping every FUSE request onto 9P2000.L and every
//! FUSE_INTERRUPT onto a Tflush of the 9P request that serves it.
//!
//! # Layout
//! - [`config`]: what a mount is asked to be (cache mode, access mode, ...).
#![deny(missing_docs)]

pub mod config;

pub use config::{Access, AttachParams, CacheMode, MountConfig};
