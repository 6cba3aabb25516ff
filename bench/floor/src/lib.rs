//! The floor Worker (see Cargo.toml): the same I/O as the coaching Worker,
//! none of its work.

use serde::Serialize;
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, Result};

#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Input {
    messages: Vec<Message>,
    max_tokens: u32,
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> Result<Response> {
    let body: Value = req.json().await.unwrap_or(Value::Null);
    let kv = env.kv("COACH_KV")?;
    let seen = kv.get("floor:count").text().await?.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // A struct, not a `Value`: the binding takes plain objects, and
    // serde-wasm-bindgen would turn a `Value`'s maps into `Map`s.
    let input = Input {
        messages: vec![
            Message { role: "system", content: "Answer with JSON.".to_string() },
            Message { role: "user", content: body["broadcaster"].as_str().unwrap_or("").to_string() },
        ],
        max_tokens: 96,
    };
    let reply: Value = env
        .ai("AI")?
        .run("@cf/meta/llama-3.1-8b-instruct-fast", input)
        .await?;
    let content = reply["response"].as_str().unwrap_or("").to_string();
    ctx.wait_until(async move {
        let _ = match kv.put("floor:count", (seen + 1).to_string()) {
            Ok(put) => put.execute().await,
            Err(e) => Err(e),
        };
    });
    Response::from_json(&json!({"action": "say", "content": content, "model": "floor", "fallback": false}))
}
