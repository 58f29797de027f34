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

    async fn launch(port: u16, password: Option<String>) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &password {
            command.args(["--requirepass", password]);
        }
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
