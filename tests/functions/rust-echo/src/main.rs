//! Echoes its event with the request id and function name the runtime client saw.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload.get("fail").is_some() {
        return Err("asked to fail".into());
    }
    Ok(json!({
        "echo": event.payload,
        "rid": event.context.request_id,
        "arn": event.context.invoked_function_arn,
        "fn": std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
