//! Configuration: TOML file, environment overrides, built-in defaults.
