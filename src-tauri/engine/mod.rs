//! The engine: everything modelrelay does, with no knowledge of any GUI toolkit.

pub mod access;
pub mod admin;
pub mod agents;
pub mod catalog;
pub mod config;
pub mod credentials;
pub mod error;
pub mod forward;
pub mod health;
pub mod http;
pub mod metrics;
pub mod prober;
pub mod providers;
pub mod requestlog;
pub mod routing;
pub mod secrets;
pub mod server;
pub mod shared;
pub mod sse;
pub mod state;
pub mod transfer;
pub mod translate;
pub mod upstream;

pub use server::{start, EngineOptions, RunningEngine, StartError, DEFAULT_PORT};
