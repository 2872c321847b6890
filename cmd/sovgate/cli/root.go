package cli

// longDescription opens `sovgate --help` and the sovgate(8) manual page.
const longDescription = `
sovgate is a data-sovereignty compliance gateway: an egress proxy for a
city's web applications. For every outbound request it finds where the data
goes (the country of every address), who operates the destination (network,
cloud provider) and which law reaches that operator, asks the Rego policy
whether the transfer is allowed, then forwards it, blocks it, or forwards it
and records a violation.

sovgate is built on Caddy: its configuration is a Caddyfile (or Caddy's
JSON), and run, start, stop, reload, validate, adapt and fmt work as they
do for Caddy.

Quick start, no config file (monitor mode, listens on 127.0.0.1:3128):

	$ sovgate egress
	$ curl -x http://127.0.0.1:3128 https://example.org/

With a Caddyfile (the Debian package installs /etc/sovgate/Caddyfile):

	$ sovgate validate --config /etc/sovgate/Caddyfile
	$ sovgate run --config /etc/sovgate/Caddyfile
	$ sovgate status

Would this call be allowed, and why not?

	$ sovgate check https://bucket.s3.eu-west-3.amazonaws.com/

For DPO staff, testing a policy change:

	$ sovgate policy test /etc/sovgate/policies
	$ sovgate policy check /etc/sovgate/policies

For auditors, and a witness that keeps the audit log honest:

	$ sovgate audit verify --config Caddyfile --checkpoints /mnt/audit-checkpoints
	$ sovgate witness --dir /var/lib/sovgate-witness --key witness.key --log GATEWAYKEY

Exit status: 0 success, 1 error, 2 wrong usage (unknown command or flag);
check exits 3 when the destination is denied, audit verify 4 when the log
was altered. Errors are one line on stderr.

sovgate keeps its state in /var/lib/sovgate when run as root or by systemd
(StateDirectory), else in ~/.local/share/sovgate and ~/.config/sovgate
($XDG_DATA_HOME, $XDG_CONFIG_HOME); SOVGATE_DATA_DIR and SOVGATE_CONFIG_DIR
name them outright.

Manual pages: 'sovgate manpage --directory DIR'. Shell completion:
'sovgate completion bash|zsh|fish'.
`
