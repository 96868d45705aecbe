//! Driving a staged world: each step sent to the backend as a client would, recorded as the first
//! hop of the transcript.

#[allow(unused_imports)]
use super::*;

impl Runner {
    pub(super) async fn drive(
        &self,
        scenario: &Scenario,
        recorder: &Recorder,
        live: &mut LiveWorld,
    ) -> Result<Vec<StepOutcome>, RunError> {
        let backend_url = live.backend.as_ref().map(|b| b.url().to_owned()).unwrap_or_default();
        let client = crate::standins::loopback_client();
        for step in &scenario.steps {
            let outcome = send_step(&client, &backend_url, step, recorder).await;
            live.steps.push(outcome);
        }
        Ok(std::mem::take(&mut live.steps))
    }
}

async fn send_step(
    client: &reqwest::Client,
    backend_url: &str,
    step: &crate::scenario::format::StepFile,
    recorder: &Recorder,
) -> StepOutcome {
    let (method, path, body) = match &step.request {
        RequestFile::Execute(e) => {
            let mut body = serde_json::json!({ "language": e.language, "version": e.version, "files": [{ "content": e.code }] });
            if let Some(stdin) = &e.stdin {
                body["stdin"] = Value::String(stdin.clone());
            }
            ("POST", "/api/v2/execute", Some(body))
        }
        RequestFile::Runtimes {} => ("GET", "/api/v2/runtimes", None),
    };
    let bytes = body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers: Vec<(&str, &str)> =
        if body.is_some() { vec![("content-type", "application/json")] } else { vec![] };
    headers.extend(step.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let pending = recorder.begin(
        Hop::Client,
        Hop::Backend,
        &RawRequest { method, path, query: None, headers: headers.clone(), body: &bytes },
    );
    let started = Instant::now();
    let mut request =
        client.request(method.parse().expect("a valid method"), format!("{backend_url}{path}"));
    for (name, value) in &headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.body(bytes.clone());
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.bytes().await.unwrap_or_default();
            recorder.finish(pending, &RawResponse { status, body: &text, ..Default::default() });
            (
                Some(status),
                serde_json::from_slice::<Value>(&text).ok().or_else(|| {
                    (!text.is_empty())
                        .then(|| Value::String(String::from_utf8_lossy(&text).into_owned()))
                }),
            )
        }
        Err(error) => {
            recorder.fail(pending, format!("backend unreachable: {error}"));
            (None, None)
        }
    };
    let failures = expect::check_step(&step.expect, status, answer.as_ref());
    StepOutcome {
        name: step.name.clone(),
        status,
        body: answer,
        failures,
        duration: started.elapsed(),
    }
}
