//! The group envelope: what a `group_send` carries and its recipients receive. It holds one MLS
//! message (RFC 9420 `MLSMessage`: a commit, proposal or application message) and, with a commit
//! that adds members, the Welcome for them. The server parses only the MLS framing.
//!
//! Layout: `"SPG1"` · u32 BE length · MLS message · u32 BE length · Welcome (length 0: none).

const MAGIC: &[u8; 4] = b"SPG1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEnvelope {
    pub message: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeError;

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a group envelope")
    }
}

impl std::error::Error for EnvelopeError {}

impl GroupEnvelope {
    pub fn encode(&self) -> Vec<u8> {
        let welcome = self.welcome.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(12 + self.message.len() + welcome.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.message.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.message);
        out.extend_from_slice(&(welcome.len() as u32).to_be_bytes());
        out.extend_from_slice(welcome);
        out
    }

    /// Borrowing decode: `(message, welcome)`.
    pub fn parse(bytes: &[u8]) -> Result<(&[u8], Option<&[u8]>), EnvelopeError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(EnvelopeError)?;
        let (message, rest) = take(rest)?;
        let (welcome, rest) = take(rest)?;
        if !rest.is_empty() || message.is_empty() {
            return Err(EnvelopeError);
        }
        Ok((message, (!welcome.is_empty()).then_some(welcome)))
    }

    pub fn decode(bytes: &[u8]) -> Result<GroupEnvelope, EnvelopeError> {
        let (message, welcome) = Self::parse(bytes)?;
        Ok(GroupEnvelope { message: message.to_vec(), welcome: welcome.map(<[u8]>::to_vec) })
    }
}

fn take(bytes: &[u8]) -> Result<(&[u8], &[u8]), EnvelopeError> {
    let len = u32::from_be_bytes(bytes.get(..4).ok_or(EnvelopeError)?.try_into().unwrap()) as usize;
    let body = bytes.get(4..4 + len).ok_or(EnvelopeError)?;
    Ok((body, &bytes[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_welcome() {
        for welcome in [None, Some(vec![9u8; 40])] {
            let env = GroupEnvelope { message: vec![1, 2, 3], welcome };
            assert_eq!(GroupEnvelope::decode(&env.encode()).unwrap(), env);
        }
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(GroupEnvelope::decode(b"nope").is_err());
        let bytes = GroupEnvelope { message: vec![1; 10], welcome: None }.encode();
        assert!(GroupEnvelope::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(GroupEnvelope::decode(&extra).is_err());
        assert!(GroupEnvelope::decode(&GroupEnvelope { message: vec![], welcome: None }.encode()).is_err());
    }
}
