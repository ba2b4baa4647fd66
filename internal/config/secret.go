package config

// ResolveSecret reads a secret other than a carrier's password that a
// connector's section names the way carriers name theirs: from the
// environment variable env, else the file (trailing newline removed),
// else inline. what names it in errors.
func ResolveSecret(what, inline, env, file string) (string, error) {
	return secret(what, inline, env, file)
}
