package sbom

// syft reads newer RPM databases (and Nix stores) with SQLite, through the
// driver registered under "sqlite"; the pure-Go one keeps CGO_ENABLED=0.
import _ "modernc.org/sqlite"
