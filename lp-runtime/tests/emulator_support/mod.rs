//! Shared by the tests that talk to the emulators `scripts/emulators.sh`
//! starts (lp-runtime's `aws_emulated`, lpc's `lambda`): their endpoints,
//! fresh names, and [`Proxy`], a small HTTP/1.1 relay on loopback that counts
//! requests per operation (for the requests-per-job numbers) and injects
//! faults: throttling responses on chosen requests, and, for Lambda,
//! immediate `202` acknowledgements of `Event` invocations (cargo-lambda
//! holds an Event invoke open until the function returns, which real Lambda
//! does not; without the shim a chain of launches would need one worker per
//! link). Also endpoints that misbehave: one that refuses connections, one
//! that never answers, and a slow link.

// Each test crate uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------
// Emulator endpoints and fresh names

pub struct Endpoints {
    pub s3: String,
    pub dynamodb: String,
    pub lambda: String,
}

pub fn endpoints() -> Endpoints {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: start the emulators with `scripts/emulators.sh start` and \
                 source the env file it prints before running the aws tests"
            )
        })
    };
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        var(name);
    }
    Endpoints {
        s3: var("LP_TEST_S3_ENDPOINT"),
        dynamodb: var("LP_TEST_DYNAMODB_ENDPOINT"),
        lambda: var("LP_TEST_LAMBDA_ENDPOINT"),
    }
}

pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, SeqCst)
    )
}

pub fn socket_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url} is not http://IP:PORT: {e}"))
}

// ---------------------------------------------------------------------------
// Counting, fault-injecting HTTP relay

/// What the relay does to a request it intercepts.
#[derive(Clone)]
pub struct FaultPlan {
    /// Fault every `every`-th request (1 = every request) ...
    pub every: u64,
    /// ... at most this many times.
    pub limit: u64,
    /// The complete HTTP response sent instead of forwarding.
    pub response: Vec<u8>,
}

impl FaultPlan {
    /// Every request answered with `response`: a service that always fails.
    pub fn always(response: Vec<u8>) -> FaultPlan {
        FaultPlan {
            every: 1,
            limit: u64::MAX,
            response,
        }
    }
}

#[derive(Default)]
pub struct ProxyState {
    counts: Mutex<BTreeMap<String, u64>>,
    seen: AtomicU64,
    faults_sent: AtomicU64,
    fault: Mutex<Option<FaultPlan>>,
    /// Faulted requests reach the service first (their answers are lost).
    forward_faulted: std::sync::atomic::AtomicBool,
}

pub struct Proxy {
    pub url: String,
    pub state: Arc<ProxyState>,
}

#[derive(Clone, Copy)]
pub enum Service {
    S3,
    DynamoDb,
    Lambda,
}

pub struct Message {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 message (Content-Length or chunked body); None at EOF.
pub fn read_message(reader: &mut impl BufRead, is_response_to_head: bool) -> Option<Message> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let end = line == b"\r\n";
        head.extend_from_slice(&line);
        if end {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let start_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut msg = Message {
        head,
        body: Vec::new(),
        start_line,
        headers,
    };
    if is_response_to_head {
        return Some(msg);
    }
    if msg
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        // Keep the chunked framing as is; just find its end.
        loop {
            let mut size_line = Vec::new();
            reader.read_until(b'\n', &mut size_line).ok()?;
            msg.body.extend_from_slice(&size_line);
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&size_line)
                    .trim()
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            msg.body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = msg
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        msg.body = vec![0; len];
        reader.read_exact(&mut msg.body).ok()?;
    }
    Some(msg)
}

pub fn operation(service: Service, msg: &Message) -> String {
    let mut parts = msg.start_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    match service {
        Service::S3 => {
            let kind = if target.contains("/~bundles/") || target.contains("/%7Ebundles/") {
                " bundle"
            } else if target.ends_with("header.json") {
                " header"
            } else {
                ""
            };
            if method == "GET" && target.contains("list-type") {
                "s3 LIST".to_string()
            } else {
                format!("s3 {method}{kind}")
            }
        }
        Service::DynamoDb => format!(
            "dynamodb {}",
            msg.header("x-amz-target")
                .and_then(|t| t.rsplit('.').next())
                .unwrap_or("?")
        ),
        Service::Lambda => "lambda Invoke".to_string(),
    }
}

impl Proxy {
    /// A relay to `upstream`. With `ack_events`, Event invocations are
    /// answered 202 at once and delivered in the background.
    pub fn start(upstream: &str, service: Service, ack_events: bool) -> Proxy {
        let upstream = socket_of(upstream);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || relay(client, upstream, service, ack_events, &st));
            }
        });
        Proxy { url, state }
    }

    pub fn inject(&self, plan: FaultPlan) {
        *self.state.fault.lock().unwrap() = Some(plan);
    }

    /// [`Proxy::inject`], with each faulted request forwarded first: the
    /// service acts on it, and the client hears the fault instead of its
    /// answer (an answer lost on the way).
    pub fn inject_after_forwarding(&self, plan: FaultPlan) {
        self.state.forward_faulted.store(true, SeqCst);
        self.inject(plan);
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state.counts.lock().unwrap().clone()
    }

    pub fn reset_counts(&self) {
        self.state.counts.lock().unwrap().clear();
    }

    pub fn faults_sent(&self) -> u64 {
        self.state.faults_sent.load(SeqCst)
    }
}

pub fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    service: Service,
    ack_events: bool,
    st: &ProxyState,
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client_w = client;
    let mut up: Option<TcpStream> = None;
    while let Some(req) = read_message(&mut reader, false) {
        let op = operation(service, &req);
        *st.counts.lock().unwrap().entry(op).or_insert(0) += 1;
        let n = st.seen.fetch_add(1, SeqCst) + 1;
        let fault = st.fault.lock().unwrap().clone();
        if let Some(plan) = fault
            && n.is_multiple_of(plan.every)
            && st.faults_sent.load(SeqCst) < plan.limit
        {
            st.faults_sent.fetch_add(1, SeqCst);
            if st.forward_faulted.load(SeqCst)
                && let Ok(mut conn) = TcpStream::connect(upstream)
            {
                let _ = conn.write_all(&req.head);
                let _ = conn.write_all(&req.body);
                let _ = read_message(&mut BufReader::new(conn), false);
            }
            let _ = client_w.write_all(&plan.response);
            break;
        }
        if ack_events
            && req
                .header("x-amz-invocation-type")
                .is_some_and(|v| v == "Event")
        {
            let _ = client_w.write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            );
            std::thread::spawn(move || {
                if let Ok(mut conn) = TcpStream::connect(upstream) {
                    let _ = conn.write_all(&req.head);
                    let _ = conn.write_all(&req.body);
                    // Hold the connection until the emulator answers (it
                    // answers when the function returns).
                    let mut sink = BufReader::new(conn);
                    let _ = read_message(&mut sink, false);
                }
            });
            continue;
        }
        if up.is_none() {
            let Ok(conn) = TcpStream::connect(upstream) else {
                break;
            };
            let _ = conn.set_nodelay(true);
            let mut from_up = conn.try_clone().unwrap();
            let mut to_client = client_w.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_up, &mut to_client);
                let _ = to_client.shutdown(std::net::Shutdown::Both);
            });
            up = Some(conn);
        }
        let conn = up.as_mut().unwrap();
        if conn.write_all(&req.head).is_err() || conn.write_all(&req.body).is_err() {
            break;
        }
    }
    if let Some(conn) = up {
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
    let _ = client_w.shutdown(std::net::Shutdown::Both);
}

pub fn http_response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

pub fn s3_slow_down() -> Vec<u8> {
    http_response(
        "503 Slow Down",
        &[("content-type", "application/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
         <Message>Please reduce your request rate.</Message></Error>",
    )
}

/// What S3 answers a caller without `s3:ListBucket` for a missing key.
pub fn s3_access_denied() -> Vec<u8> {
    http_response(
        "403 Forbidden",
        &[("content-type", "application/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
         <Message>Access Denied</Message></Error>",
    )
}

pub fn dynamodb_throttled() -> Vec<u8> {
    http_response(
        "400 Bad Request",
        &[("content-type", "application/x-amz-json-1.0")],
        "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\",\
         \"message\":\"Rate of requests exceeds the allowed throughput.\"}",
    )
}

/// What Lambda answers an Invoke it throttles.
pub fn lambda_throttled() -> Vec<u8> {
    http_response(
        "429 Too Many Requests",
        &[
            ("content-type", "application/json"),
            ("x-amzn-errortype", "TooManyRequestsException"),
        ],
        "{\"Reason\":\"ConcurrentInvocationLimitExceeded\",\"Type\":\"User\",\
         \"message\":\"Rate Exceeded.\"}",
    )
}

/// What Lambda answers an Invoke of a function that does not exist.
pub fn lambda_function_not_found(function: &str) -> Vec<u8> {
    http_response(
        "404 Not Found",
        &[
            ("content-type", "application/json"),
            ("x-amzn-errortype", "ResourceNotFoundException"),
        ],
        &format!(
            "{{\"Type\":\"User\",\"Message\":\"Function not found: \
             arn:aws:lambda:us-east-1:123456789012:function:{function}\"}}"
        ),
    )
}

/// The URL of a loopback port where nothing listens (connections are
/// refused).
pub fn refusing_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    format!("http://{}", listener.local_addr().unwrap())
}

/// The URL of a loopback endpoint that accepts connections, reads nothing
/// and never answers, for the life of the process.
pub fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    url
}

/// The URL of a loopback relay to `upstream` that carries at most
/// `bytes_per_sec` each way on each connection: a slow link, for transfers
/// that must take longer than an attempt timeout.
pub fn slow_link(upstream: &str, bytes_per_sec: u64) -> String {
    let upstream = socket_of(upstream);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let pace = move |mut from: TcpStream, mut to: TcpStream| {
        let mut buf = vec![0; 64 << 10];
        let started = std::time::Instant::now();
        let mut sent = 0u64;
        while let Ok(n) = std::io::Read::read(&mut from, &mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n as u64;
            let due = std::time::Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64);
            std::thread::sleep(due.saturating_sub(started.elapsed()));
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    };
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pace(client, server));
            std::thread::spawn(move || pace(s2, c2));
        }
    });
    url
}

// ---------------------------------------------------------------------------
// A pool of real lp-worker processes

/// Worker processes serving `lp-worker` invocations, and the relay that
/// acknowledges their (and the driver's) Event invocations at once.
pub struct Pool {
    pub workers: Vec<Child>,
    pub lambda: Proxy,
}

impl Pool {
    /// `size` processes of the `lp-worker` binary at `lp_worker`, each with
    /// `LP_WORKER_FAULT=fault` if given (which only a worker built with
    /// lp-runtime's `fault-injection` feature honours), logging to
    /// `log_dir/worker-K.log`, talking to the emulators directly.
    pub fn start(lp_worker: &Path, size: usize, fault: Option<&str>, log_dir: &Path) -> Pool {
        let ep = endpoints();
        Pool::start_with(lp_worker, size, fault, log_dir, &ep.s3, &ep.dynamodb)
    }

    /// [`Pool::start`] with the workers' S3 and DynamoDB endpoints given
    /// (a counting [`Proxy`]'s, say).
    pub fn start_with(
        lp_worker: &Path,
        size: usize,
        fault: Option<&str>,
        log_dir: &Path,
        s3: &str,
        dynamodb: &str,
    ) -> Pool {
        let ep = endpoints();
        let lambda = Proxy::start(&ep.lambda, Service::Lambda, true);
        let runtime_api = format!("http://{}/.rt/lp-worker", socket_of(&ep.lambda));
        let workers = (0..size)
            .map(|k| {
                let log = std::fs::File::create(log_dir.join(format!("worker-{k}.log"))).unwrap();
                let mut cmd = Command::new(lp_worker);
                cmd.env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
                    .env("AWS_LAMBDA_FUNCTION_NAME", "lp-worker")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
                    .env("LP_S3_ENDPOINT", s3)
                    .env("LP_DYNAMODB_ENDPOINT", dynamodb)
                    .env("LP_LAMBDA_ENDPOINT", &lambda.url)
                    .env_remove("LP_WORKER_FAULT")
                    .stdout(Stdio::null())
                    .stderr(log);
                if let Some(fault) = fault {
                    cmd.env("LP_WORKER_FAULT", fault);
                }
                cmd.spawn().expect("start an lp-worker process")
            })
            .collect();
        Pool { workers, lambda }
    }

    /// How many workers exited (an injected fault kills its worker).
    pub fn exited(&mut self) -> usize {
        self.workers
            .iter_mut()
            .filter_map(|w| w.try_wait().ok().flatten())
            .count()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// The loads (distinct tiles per job: a job that names a tile twice reads
/// it once), writes and parent-child edges of a plan: the lower bounds of
/// a run's S3 and DynamoDB requests. Loads of inputs with an initialiser
/// are not counted: `lpc run` places none in the store, so workers
/// generate those tiles without a GET (`Namespace::generated`).
pub fn plan_counts(plan: &lp_program::Plan) -> (usize, usize, usize) {
    let (mut loads, mut writes, mut edges) = (0, 0, 0);
    let mut tiles: Vec<lp_program::TileKey> = Vec::new();
    let mut children: Vec<lp_program::JobId> = Vec::new();
    let matrices = &plan.program().matrices;
    let generated = |t: &lp_program::TileKey| {
        let info = &matrices[t.matrix as usize];
        info.role == lp_program::Role::Input && info.init.is_some()
    };
    plan.walk(&mut |_, _, id| {
        let loc = plan.locate(id).expect("a walked job is a job");
        plan.tiles(&loc, false, &mut tiles).unwrap();
        tiles.sort_unstable();
        tiles.dedup();
        loads += tiles.iter().filter(|t| !generated(t)).count();
        let family = plan.family(loc.family);
        writes += family
            .instrs
            .iter()
            .filter(|i| matches!(i, lp_program::Instr::Write { .. }))
            .count();
        plan.children(id, &mut children);
        edges += children.len();
        true
    });
    (loads, writes, edges)
}
