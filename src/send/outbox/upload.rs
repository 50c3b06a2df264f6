//! Attachments onto the draft: inline when the request fits, else through an upload
//! session in chunks, from the spooled copy of the file.

use super::*;
use crate::core::spool;
use crate::graph::wire;

/// Graph refuses request bodies above about 4 MB (413); decimal megabytes, to be safe.
pub(super) const MAX_INLINE_REQUEST_BYTES: u64 = 4_000_000;

/// Whether the inline attachment request (base64 content plus the JSON around it) stays under
/// Graph's request size limit. A file just under 3 MiB grows past 4 MB once base64-encoded, so
/// the upload-session size alone is not enough.
pub(super) fn inline_request_fits(a: &Spooled) -> bool {
    let encoded = a.size.div_ceil(3) * 4;
    let names =
        (a.name.len() + a.content_type.len() + a.content_id.as_ref().map_or(0, String::len)) as u64;
    // JSON keys and quotes; a \uXXXX escape makes one byte at most six.
    encoded + 6 * names + 256 <= MAX_INLINE_REQUEST_BYTES
}

/// Puts one attachment on the draft: inline below the upload-session size, else through an
/// upload session in chunks.
pub(super) async fn attach(
    c: &Core,
    g: &MailboxGraph,
    draft: &str,
    a: &Spooled,
    send_id: &str,
    owner: &str,
) -> Result<()> {
    let s = &c.config().send;
    let path = format!("/messages/{}/attachments", enc(draft));
    if a.size < s.upload_session_from_bytes && inline_request_fits(a) {
        let data = spool::read_all(c, &a.path, a.blob.as_deref(), a.size).await?;
        let body = wire::to_body(&wire::FileAttachment {
            odata_type: wire::FileAttachment::ODATA_TYPE,
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            content_bytes: base64::engine::general_purpose::STANDARD.encode(&data),
            is_inline: a.content_id.as_ref().map(|_| true),
            content_id: a.content_id.clone(),
        })?;
        g.post_json(&path, body, Priority::Interactive, Replay::NotAfterSend)
            .await?;
        return Ok(());
    }
    let item = wire::AttachmentItem {
        attachment_type: "file",
        name: a.name.clone(),
        size: a.size,
        content_type: a.content_type.clone(),
        is_inline: a.content_id.as_ref().map(|_| true),
        content_id: a.content_id.clone(),
    };
    let session: wire::UploadSession = g
        .post_json(
            &format!("{path}/createUploadSession"),
            wire::to_body(&wire::CreateUploadSession {
                attachment_item: item,
            })?,
            Priority::Interactive,
            Replay::NotAfterSend,
        )
        .await?
        .json()?;
    let upload_url = session
        .upload_url
        .ok_or_else(|| unexpected("the upload session has no uploadUrl"))?;
    let mut f = spool::SpoolReader::open(c, &a.path, a.blob.as_deref()).await?;
    let mut start = 0u64;
    let chunk = s.chunk_bytes as u64;
    while start < a.size {
        let len = chunk.min(a.size - start);
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).await?;
        let end = start + len - 1;
        let req = Request::new(Method::PUT, upload_url.clone())
            .without_auth()
            .header("Content-Range", format!("bytes {start}-{end}/{}", a.size))
            .priority(Priority::Interactive)
            .replay(Replay::NotAfterSend);
        let req = Request {
            body: Some(Body::Bytes {
                content_type: "application/octet-stream".into(),
                data: buf.into(),
            }),
            ..req
        };
        g.call(req).await?;
        start = end + 1;
        // Long uploads keep the entry ours.
        renew(c, send_id, owner)?;
    }
    Ok(())
}
