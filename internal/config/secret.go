package config

import "github.com/anydiag/anydiag/internal/secret"

// MinSecretBytes is the shortest bearer token the agent accepts.
const MinSecretBytes = secret.MinBytes

// ReadSecret reads a bearer token file for the setting named what,
// refusing symlinks, files readable by group or others and tokens shorter
// than MinSecretBytes (see internal/secret; packages that config imports,
// such as exporters/alertmanager, use secret.Read directly).
func ReadSecret(path, what string) (string, error) { return secret.Read(path, what) }
