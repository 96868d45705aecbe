//! The four Azure stand-ins, one module per hop, and [`StandIns`], which runs them together.
//!
//! Each listens on its own `127.0.0.1:0` port and records every request it received and what it
//! answered into one shared [`Recorder`]. [`StandIns::backend_env`] is the environment a backend
//! needs to talk to them exactly as it would talk to Azure.

pub mod entra;
mod env;
pub mod faults;
pub(crate) mod front;
pub mod identity;
pub mod piston;
pub mod pool;
pub mod server;
pub mod tls;

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;

use crate::scenario::BackendSettings;
use crate::scenario::format::{CredentialChoice, EndpointShape};
use crate::tokens::{Clock, TokenIssuer};
use crate::transcript::{Exchange, Hop, Recorder};
use crate::world::{IdentityProtocol, SettingValue, World};
use faults::Faults;
pub(crate) use server::Server;

/// The harness's HTTP client for loopback (no proxy), built once per process: building a client
/// loads TLS roots, which costs milliseconds a scenario should not pay.
pub(crate) fn loopback_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder().no_proxy().build().expect("a loopback HTTP client builds")
        })
        .clone()
}

/// A loopback port nothing listens on (connections to it are refused).
fn closed_port() -> u16 {
    crate::ports::unused_loopback_port().unwrap_or(9)
}

/// The four stand-ins of one world, running. Dropping it stops them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_pool_harness::{Scenario, StandIns, Hop};
///
/// let scenario = Scenario::load("scenarios/missing-role.toml")?;
/// let stand_ins = StandIns::start(scenario.world()).await?;
///
/// // Anything can call them; here, the pool without a token.
/// let answer = reqwest::Client::new()
///     .post(format!("{}/python/execute?identifier=demo", stand_ins.pool_endpoint()))
///     .send()
///     .await?;
/// assert_eq!(answer.status(), 401);
///
/// let exchanges = stand_ins.exchanges();
/// assert_eq!((exchanges[0].to, exchanges[0].status), (Hop::Pool, Some(401)));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StandIns {
    world: Arc<World>,
    recorder: Recorder,
    identity_header: String,
    /// Stand-in values for the app's secret references, one per secret name (the real ones never
    /// leave Azure).
    secret_values: Vec<(String, String)>,
    pool_state: Arc<pool::PoolState>,
    tls: tls::TestCa,
    identity: Server,
    entra: Server,
    pool: Server,
    piston: Server,
    fronts: Fronts,
    expectations: Expectations,
}

/// Where each stand-in's requests go first ([`StandIns::front`]).
#[derive(Debug, Default, Clone)]
struct Fronts {
    identity: front::Front,
    entra: front::Front,
    pool: front::Front,
    piston: front::Front,
}

impl Fronts {
    fn get(&self, hop: Hop) -> front::Front {
        match hop {
            Hop::Identity => self.identity.clone(),
            Hop::Entra => self.entra.clone(),
            Hop::Pool => self.pool.clone(),
            Hop::Piston => self.piston.clone(),
            _ => front::Front::default(),
        }
    }
}

/// The calls a test expects per hop, checked when the stand-ins are dropped (or stopped), as
/// wiremock checks its mocks.
#[derive(Debug)]
struct Expectations {
    recorder: Recorder,
    expected: std::sync::Mutex<Vec<(Hop, usize)>>,
}

impl Expectations {
    /// `None` when every expectation holds; else what failed and every exchange received.
    fn unmet(&self) -> Option<String> {
        use std::fmt::Write as _;
        let expected = self.expected.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let failed: Vec<String> = expected
            .iter()
            .filter_map(|(hop, want)| {
                // Counted, not kept: the transcript keeps a bounded number of exchanges.
                let got = self.recorder.count_to(*hop);
                (got != *want).then(|| format!("- expected {want} request(s) to {hop}, got {got}"))
            })
            .collect();
        if failed.is_empty() {
            return None;
        }
        let exchanges = self.recorder.exchanges();
        let mut message = format!("Verifications failed:\n{}\n", failed.join("\n"));
        let _ = writeln!(message, "Requests the stand-ins received ({}):", exchanges.len());
        for exchange in &exchanges {
            let _ = writeln!(message, "  {exchange}");
        }
        Some(message)
    }
}

impl Drop for Expectations {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(message) = self.unmet() {
            panic!("{message}");
        }
    }
}

/// A hop a wiremock server cannot be put in front of.
#[derive(Debug, thiserror::Error)]
#[error(
    "no stand-in serves {0}: a wiremock server can front identity, entra, pool, container or piston"
)]
pub struct NotAStandIn(pub Hop);

impl StandIns {
    /// Start all four stand-ins for `world` on loopback, with a fresh recorder.
    pub async fn start(world: &World) -> std::io::Result<Self> {
        Self::start_with(world, Recorder::new()).await
    }

    /// Start them recording into `recorder` (so a caller can record its own hops beside theirs).
    pub(crate) async fn start_with(world: &World, recorder: Recorder) -> std::io::Result<Self> {
        let world = Arc::new(world.clone());
        let issuer = TokenIssuer::test_key();
        let identity_header = crate::ids::guid();
        let tls = tls::TestCa::generate().map_err(std::io::Error::other)?;
        recorder.set_identity_header(&identity_header);
        let jwks: JwkSet = issuer.jwk_set().clone();
        let pool_state = Arc::new(pool::PoolState::new(world.clone(), jwks, recorder.clone()));

        let identity_app = identity::app(identity::IdentityState {
            world: world.clone(),
            issuer: issuer.clone(),
            identity_header: identity_header.clone(),
        });
        let piston_app = piston::app(Arc::new(world.piston.clone()));
        let fronts = Fronts::default();
        let tap = |from: Hop,
                   to: Hop,
                   routes: &'static [(&'static str, &'static str)],
                   clock: Clock| server::Interceptor {
            recorder: recorder.clone(),
            from,
            to,
            faults: Arc::new(Faults::for_hop(&world.faults, to)),
            clock,
            routes,
            front: fronts.get(to),
        };
        let entra_tap = tap(Hop::Backend, Hop::Entra, entra::ROUTES, Clock::default());
        let entra_world = world.clone();
        let make_entra = move |base_url: String| {
            entra::app(entra::EntraState { world: entra_world, issuer, base_url })
        };
        let (identity, entra, pool, piston) = tokio::try_join!(
            Server::start_tapped(
                identity_app,
                tap(Hop::Backend, Hop::Identity, identity::ROUTES, Clock::default())
            ),
            Server::start_knowing_url(make_entra, Some(entra_tap), Some(tls.server_config())),
            Server::start_tapped(
                pool::app(pool_state.clone()),
                tap(Hop::Backend, Hop::Pool, &[], world.pool.clock)
            ),
            async {
                let address =
                    std::net::SocketAddr::from(([127, 0, 0, 1], world.piston.port.unwrap_or(0)));
                Server::start_on(address, piston_app, Some(tap(Hop::Container, Hop::Piston, piston::ROUTES, Clock::default()))).await.map_err(|e| match (world.piston.port, e.kind()) {
                    (Some(port), std::io::ErrorKind::AddrInUse) => std::io::Error::new(
                        e.kind(),
                        format!("the Piston stand-in cannot listen on its fixed port 127.0.0.1:{port} ([world.piston] port): another program holds it; stop that program or choose another port"),
                    ),
                    _ => e,
                })
            },
        )?;
        let secret_values = world
            .app
            .settings
            .iter()
            .filter_map(|(_, v)| match v {
                SettingValue::SecretRef(name) => {
                    Some((name.clone(), format!("stand-in-secret-{}", crate::ids::opaque(24))))
                }
                SettingValue::Plain(_) => None,
            })
            .collect();
        Ok(Self {
            world,
            expectations: Expectations { recorder: recorder.clone(), expected: Default::default() },
            recorder,
            identity_header,
            secret_values,
            pool_state,
            tls,
            identity,
            entra,
            pool,
            piston,
            fronts,
        })
    }

    /// Route the pool's forwarded requests to a running session container (`http://127.0.0.1:<port>`)
    /// that serves `routes` (for near-miss notes on its 404s; `&[]` when unknown).
    pub(crate) fn set_container(
        &self,
        url: impl Into<String>,
        routes: &'static [(&'static str, &'static str)],
    ) {
        let url = self.closed_if_refused(Hop::Container, url.into());
        *self.pool_state.container.write().unwrap_or_else(|p| p.into_inner()) =
            Some(pool::Container { url, routes });
    }

    /// `url`, or the same URL on a closed port when the scenario says `hop` refuses connections.
    fn closed_if_refused(&self, hop: Hop, url: String) -> String {
        let refused = self.world.faults.iter().any(|f| f.refuse && f.hop == hop);
        if !refused {
            return url;
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{scheme}://127.0.0.1:{}{path}", closed_port())
    }

    /// The pool management endpoint (`properties.poolManagementEndpoint`).
    pub fn pool_endpoint(&self) -> String {
        self.pool.url()
    }

    /// The pool in the code-interpreter endpoint form (`/subscriptions/…/sessionPools/<pool>`), which a
    /// custom-container pool refuses with DynamicApisNotAllowed.
    pub fn regional_pool_endpoint(&self) -> String {
        let pool = &self.world.pool.resource_id;
        let (sub, rg) = (
            pool.segment("subscriptions").unwrap_or("-"),
            pool.segment("resourceGroups").unwrap_or("-"),
        );
        format!(
            "{}/subscriptions/{sub}/resourceGroups/{rg}/sessionPools/{}",
            self.pool.url(),
            self.world.pool.name
        )
    }

    /// `IDENTITY_ENDPOINT` as Container Apps sets it.
    pub fn identity_endpoint(&self) -> String {
        format!("{}{}", self.identity.url(), crate::azure::IDENTITY_PATH)
    }

    /// The `IDENTITY_HEADER` secret.
    pub fn identity_header(&self) -> &str {
        &self.identity_header
    }

    /// The values the backend got for the app's secret references: stand-ins, never printed.
    pub(crate) fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.secret_values.iter().map(|(_, v)| v.as_str())
    }

    /// The placeholders the stand-ins define, for programs and the app's settings.
    pub(crate) fn placeholders(&self) -> Vec<(&'static str, String)> {
        vec![
            ("identity_endpoint", self.identity_endpoint()),
            ("identity_header", self.identity_header.clone()),
            ("imds_authority", self.imds_authority()),
            ("pool_endpoint", self.closed_if_refused(Hop::Pool, self.pool_endpoint())),
            (
                "regional_pool_endpoint",
                self.closed_if_refused(Hop::Pool, self.regional_pool_endpoint()),
            ),
            ("entra_authority", self.entra_authority()),
            ("tenant_id", self.world.tenant_id.clone()),
            ("ca_file", self.ca_file().display().to_string()),
            ("piston_url", self.piston_url()),
        ]
    }

    /// The app's settings as its container sees them: placeholders filled, each secret reference
    /// replaced by a stand-in value.
    pub(crate) fn app_settings(&self) -> Vec<(String, String)> {
        let values = self.placeholders();
        let settings = self.world.app.settings.iter();
        settings
            .map(|(name, value)| {
                let value = match value {
                    SettingValue::Plain(text) => fill_known(text, &values),
                    SettingValue::SecretRef(secret) => self
                        .secret_values
                        .iter()
                        .find(|(s, _)| s == secret)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                };
                (name.to_owned(), value)
            })
            .collect()
    }

    /// The IMDS authority: where `169.254.169.254` traffic goes (proxy for Rust, authority for Python).
    pub fn imds_authority(&self) -> String {
        self.identity.url()
    }

    /// The Entra authority host (`AZURE_AUTHORITY_HOST`): `https://127.0.0.1:<port>`.
    pub fn entra_authority(&self) -> String {
        self.entra.url()
    }

    /// The test CA bundle that makes the Entra stand-in's certificate trusted.
    pub fn ca_file(&self) -> &std::path::Path {
        self.tls.ca_file()
    }

    /// The Piston base URL (`http://127.0.0.1:<port>`).
    pub fn piston_url(&self) -> String {
        self.piston.url()
    }

    /// Stop every stand-in and wait until their ports are released.
    pub async fn stop(self) {
        tokio::join!(self.identity.stop(), self.entra.stop(), self.pool.stop(), self.piston.stop());
    }

    /// Every exchange recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.recorder.exchanges()
    }

    /// Expect `hop` to receive exactly `calls` requests by the time the stand-ins are dropped or
    /// stopped (or [`StandIns::verify`] is called). An unmet expectation panics, listing every
    /// exchange the stand-ins received; a second `expect` on the same hop replaces the first.
    ///
    /// ```should_panic
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use session_pool_harness::{Hop, StandIns, World};
    ///
    /// let stand_ins = StandIns::start(&World::builder().build().unwrap()).await.unwrap();
    /// stand_ins.expect(Hop::Pool, 1);
    /// // Nothing calls the pool: dropping the stand-ins panics with
    /// // "expected 1 request(s) to pool, got 0" and the (empty) list of exchanges.
    /// # }
    /// ```
    pub fn expect(&self, hop: Hop, calls: usize) -> &Self {
        let mut expected = self.expectations.expected.lock().unwrap_or_else(|p| p.into_inner());
        expected.retain(|(h, _)| *h != hop);
        expected.push((hop, calls));
        self
    }

    /// Check the expectations now; panics like a drop with unmet expectations would.
    pub fn verify(&self) {
        if let Some(message) = self.expectations.unmet() {
            panic!("{message}");
        }
    }

    /// Put a wiremock server in front of `hop`: its requests reach `mock` first; a mock that
    /// matches answers, anything unmatched falls through to the stand-in. Every exchange is still
    /// recorded, checked and diagnosed as the caller saw it. This mounts a catch-all at the lowest
    /// priority on `mock` (the fall-through); keep `mock` alive while the stand-ins run.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_pool_harness::{Diagnosis, Hop, StandIns, World};
    /// use wiremock::matchers::{method, path};
    /// use wiremock::{Mock, MockServer, ResponseTemplate};
    ///
    /// let stand_ins = StandIns::start(&World::builder().build()?).await?;
    /// let mock = MockServer::start().await;
    /// // The identity endpoint fails, as an overloaded one would.
    /// Mock::given(path("/msi/token"))
    ///     .respond_with(ResponseTemplate::new(500).set_body_string("identity endpoint overloaded"))
    ///     .mount(&mock)
    ///     .await;
    /// stand_ins.front(Hop::Identity, &mock).await?;
    ///
    /// let client = reqwest::Client::new();
    /// let token = client
    ///     .get(stand_ins.identity_endpoint())
    ///     .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
    ///     .header("x-identity-header", stand_ins.identity_header())
    ///     .send()
    ///     .await?;
    /// assert_eq!(token.status(), 500, "the mock answered");
    /// // Unmatched: the pool stand-in answers as Azure would.
    /// let pool = client.post(format!("{}/python/execute", stand_ins.pool_endpoint())).send().await?;
    /// assert_eq!(pool.status(), 401);
    /// assert_eq!(stand_ins.exchanges().len(), 2, "both recorded");
    /// # Ok(()) }
    /// ```
    pub async fn front(&self, hop: Hop, mock: &wiremock::MockServer) -> Result<(), NotAStandIn> {
        let front = match hop {
            Hop::Container => self.pool_state.container_front.clone(),
            Hop::Identity | Hop::Entra | Hop::Pool | Hop::Piston => self.fronts.get(hop),
            other => return Err(NotAStandIn(other)),
        };
        front::mount_fall_through(mock).await;
        front.set(mock.uri());
        Ok(())
    }

    /// The world they play.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Named base URLs, for the normaliser (ports vary per run).
    pub(crate) fn endpoints(&self) -> Vec<(String, Hop)> {
        vec![
            (self.identity.url(), Hop::Identity),
            (self.entra.url(), Hop::Entra),
            (self.pool.url(), Hop::Pool),
            (self.piston.url(), Hop::Piston),
        ]
    }
}

/// Replace each `{name}` whose name is a known placeholder; leave every other brace as it is (a
/// setting may hold JSON or a template of the app's own).
pub fn fill_known(text: &str, values: &[(&'static str, String)]) -> String {
    values
        .iter()
        .fold(text.to_owned(), |text, (name, value)| text.replace(&format!("{{{name}}}"), value))
}
