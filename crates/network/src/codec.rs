//! Framing on libp2p streams: a 4-byte big-endian length, then the bytes. The length is checked
//! against the protocol's limit before anything is read, and the buffer grows with the bytes that
//! actually arrive: announcing a length is free, so allocating it up front would let a peer with
//! many streams open reserve memory for frames it never sends.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;

/// A request as read off a stream: the bytes, or the fact that the peer announced a frame over
/// the limit (reported rather than failed, so the node can penalise the sender; the bytes are
/// never read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Bytes(Vec<u8>),
    TooLarge { length: usize },
}

/// The most a frame buffer reserves before its bytes arrive.
const INITIAL_BUFFER_BYTES: usize = 64 * 1024;

/// Reads the `length` bytes of a frame whose length was already checked.
async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, length: usize) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(length.min(INITIAL_BUFFER_BYTES));
    io.take(length as u64).read_to_end(&mut bytes).await?;
    if bytes.len() < length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {length} bytes", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// Length-prefixed byte frames with size limits for requests and responses.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes is over the limit of {limit}"),
        ));
    }
    read_body(io, length).await
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    bytes: &[u8],
    limit: usize,
) -> io::Result<()> {
    if bytes.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to send {} bytes, over the limit of {limit}",
                bytes.len()
            ),
        ));
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

impl Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Frame> {
        let mut length = [0u8; 4];
        io.read_exact(&mut length).await?;
        let length = u32::from_be_bytes(length) as usize;
        if length > self.max_request_bytes {
            return Ok(Frame::TooLarge { length });
        }
        Ok(Frame::Bytes(read_body(io, length).await?))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io, self.max_response_bytes).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Frame,
    ) -> io::Result<()> {
        match request {
            Frame::Bytes(bytes) => write_frame(io, &bytes, self.max_request_bytes).await,
            Frame::TooLarge { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a frame to send",
            )),
        }
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, &response, self.max_response_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;

    use super::*;

    fn framed(announced: u32, body: &[u8]) -> Cursor<Vec<u8>> {
        let mut bytes = announced.to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        Cursor::new(bytes)
    }

    #[test]
    fn frames_are_read_whole_and_short_ones_fail() {
        let mut codec = FrameCodec {
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
        };
        let protocol = StreamProtocol::new("/test");
        let body: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let read = block_on(codec.read_request(&protocol, &mut framed(200_000, &body))).unwrap();
        assert_eq!(read, Frame::Bytes(body.clone()));
        let read = block_on(codec.read_response(&protocol, &mut framed(200_000, &body))).unwrap();
        assert_eq!(read, body);
        // A frame that announces more than it sends is an error, not a padded buffer.
        let short = block_on(codec.read_request(&protocol, &mut framed(1 << 20, b"abc")));
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let short = block_on(codec.read_response(&protocol, &mut framed(1 << 20, b"abc")));
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        // Over the limit: reported (requests) or refused (responses) without reading the body.
        let large = block_on(codec.read_request(&protocol, &mut framed((1 << 20) + 1, b"")));
        assert_eq!(
            large.unwrap(),
            Frame::TooLarge {
                length: (1 << 20) + 1
            }
        );
        let large = block_on(codec.read_response(&protocol, &mut framed((1 << 20) + 1, b"")));
        assert_eq!(large.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
