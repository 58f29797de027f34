//! A real `redis-server` on a free loopback port for the team-mode tests: no snapshot, no
//! append-only file, stopped when dropped. A missing `redis-server` fails the test (never a
//! skip): install Debian's `redis-server` package (`.ci/run` does).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct TestRedis {
    child: Option<Child>,
    pub port: u16,
    password: Option<String>,
}

impl TestRedis {
    pub async fn start() -> Self {
        Self::launch(super::closed_port().await, None).await
    }

    /// A server that requires `password`.
    pub async fn start_with_password(password: &str) -> Self {
        Self::launch(super::closed_port().await, Some(password.to_string())).await
    }

    /// A server that speaks only TLS on its port, with a certificate for `localhost` from a
    /// test CA made in `dir` (returned: the CA's PEM file, for the client to trust).
    pub async fn start_tls(dir: &std::path::Path) -> (Self, std::path::PathBuf) {
        let ca = make_certificates(dir);
        let port = super::closed_port().await;
        let mut command = Command::new("redis-server");
        command
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(&ca);
        (Self::spawn(command, port, None).await, ca)
    }

    async fn launch(port: u16, password: Option<String>) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        if let Some(password) = &password {
            command.args(["--requirepass", password]);
        }
        Self::spawn(command, port, password).await
    }

    async fn spawn(mut command: Command, port: u16, password: Option<String>) -> Self {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => panic!(
                "cannot start `redis-server` ({error}): the team-mode tests need it; install it with `apt-get install -y redis-server` (.ci/run does)"
            ),
        };
        let redis = Self {
            child: Some(child),
            port,
            password,
        };
        redis.wait_until_listening().await;
        redis
    }

    async fn wait_until_listening(&self) {
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "redis-server did not listen on port {} within 10 s",
            self.port
        );
    }

    /// `redis://127.0.0.1:<port>/0`, with the server's password when it has one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => self.url_without_password(),
        }
    }

    pub fn url_without_password(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (everything it held is gone, as after a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh, empty server on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        let again = Self::launch(self.port, self.password.clone()).await;
        let mut again = again;
        self.child = again.child.take();
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A test CA and a `localhost` server certificate it signed, with `openssl`.
fn make_certificates(dir: &std::path::Path) -> std::path::PathBuf {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `openssl` ({e}); install it (.ci/run does)"));
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=modelrelay test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    dir.join("ca.pem")
}
