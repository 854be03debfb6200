//! Filesystem source: walk, tar (PAX), file index, incrementals, safe extraction.
