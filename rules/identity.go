package rules

// Identity is who is connected: fixed when Postgres says AuthenticationOk and
// never widened afterwards (SET ROLE and SET SESSION AUTHORIZATION do not
// change it). Its JSON form is the policy input contract (input.identity).
type Identity struct {
	// User is the user Postgres authenticated.
	User string `json:"user"`
	// Database is the database the session is connected to.
	Database string `json:"database"`
	// ApplicationName is the application_name startup parameter ("" if unset).
	ApplicationName string `json:"application_name"`
	// ClientAddr is the client's IP address, without the port.
	ClientAddr string `json:"client_addr"`
	// TLS describes the client's TLS session with the proxy; zero when the
	// client connected in plaintext.
	TLS TLSInfo `json:"tls"`
	// Roles are the roles the user is a member of, directly or indirectly
	// (from pg_auth_members), sorted. The user's own name is included.
	Roles []string `json:"roles"`
}

// TLSInfo is the client side of TLS, as the proxy terminated it.
type TLSInfo struct {
	// Enabled is true when the client connected over TLS.
	Enabled bool `json:"enabled"`
	// Subject is the verified client certificate's subject DN ("" without one).
	Subject string `json:"subject,omitempty"`
}
