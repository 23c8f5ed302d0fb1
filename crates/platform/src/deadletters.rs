//! Dead letters for operators: list them, and replay them once the cause is mended
//! (`motcua deadletters list|replay`).
//!
//! A replay publishes the original payload and headers to the original subject under a new message
//! id (`replay:<event id>:<dead-letter sequence>`, so JetStream's duplicate window does not drop it)
//! and keeps the event id header, so every other consumer of that subject recognises the event it
//! already handled and only acknowledges it. The dead letter is deleted once the replay is stored.

use crate::bus::{Bus, DEADLETTER, headers};
use anyhow::Context;
use async_nats::jetstream::message::PublishMessage;

/// One dead letter as an operator sees it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Sequence in the DEADLETTER stream (what `replay --seq` takes).
    pub sequence: u64,
    pub consumer: String,
    /// Where it was published, without the bus prefix.
    pub subject: String,
    pub event_type: String,
    pub event_id: String,
    pub reason: String,
    pub dead_at: String,
    pub bytes: usize,
}

fn get(h: &async_nats::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Dead letters in sequence order, of one consumer or all, at most `limit`.
pub async fn list(
    bus: &Bus,
    consumer: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<DeadLetter>> {
    Ok(read(bus, consumer, limit)
        .await?
        .into_iter()
        .map(|(d, _)| d)
        .collect())
}

async fn read(
    bus: &Bus,
    consumer: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<(DeadLetter, async_nats::jetstream::message::StreamMessage)>> {
    let stream = bus
        .js
        .get_stream(bus.stream_name(DEADLETTER))
        .await
        .context("opening the DEADLETTER stream")?;
    let info = stream.get_info().await?;
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in info.state.first_sequence..=info.state.last_sequence {
        if out.len() >= limit {
            break;
        }
        // Deleted sequences (replayed letters) are gaps.
        let Ok(message) = stream.get_raw_message(seq).await else {
            continue;
        };
        let h = &message.headers;
        let letter = DeadLetter {
            sequence: seq,
            consumer: get(h, headers::CONSUMER),
            subject: bus.strip(&get(h, headers::ORIGINAL_SUBJECT)).to_owned(),
            event_type: get(h, headers::EVENT_TYPE),
            event_id: get(h, headers::EVENT_ID),
            reason: get(h, headers::DEAD_REASON),
            dead_at: message.time.to_string(),
            bytes: message.payload.len(),
        };
        if consumer.is_none_or(|c| c == letter.consumer) {
            out.push((letter, message));
        }
    }
    Ok(out)
}

/// Replays dead letters: the given sequences, or every one of `consumer` (or all) when `sequences`
/// is empty. Returns the replayed letters.
pub async fn replay(
    bus: &Bus,
    consumer: Option<&str>,
    sequences: &[u64],
) -> anyhow::Result<Vec<DeadLetter>> {
    let stream = bus.js.get_stream(bus.stream_name(DEADLETTER)).await?;
    let mut done = Vec::new();
    for (letter, message) in read(bus, consumer, usize::MAX).await? {
        if !sequences.is_empty() && !sequences.contains(&letter.sequence) {
            continue;
        }
        let mut h = async_nats::HeaderMap::new();
        for (name, values) in message.headers.iter() {
            let name: &str = name.as_ref();
            if name.starts_with("Motcua-Dead")
                || name == headers::ORIGINAL_SUBJECT
                || name == headers::CONSUMER
                || name == "Nats-Msg-Id"
            {
                continue;
            }
            for v in values {
                h.append(name, v.as_str());
            }
        }
        let msg_id = format!("replay:{}:{}", letter.event_id, letter.sequence);
        let publish = PublishMessage::build()
            .payload(message.payload.clone())
            .headers(h)
            .message_id(msg_id);
        bus.js
            .send_publish(bus.subject(&letter.subject), publish)
            .await?
            .await
            .with_context(|| {
                format!(
                    "replaying dead letter {} to {}",
                    letter.sequence, letter.subject
                )
            })?;
        stream
            .delete_message(letter.sequence)
            .await
            .with_context(|| format!("deleting replayed dead letter {}", letter.sequence))?;
        done.push(letter);
    }
    Ok(done)
}
