//! Text generation by a causal language model: the parameters a registration fixes
//! ([`GenerationParams`]), and what executors reveal and agree on ([`Generation`]).
//!
//! A causal language model (`Architecture::CausalLm`) takes a prompt (raw text, or chat messages
//! rendered with the model's chat template) and generates up to
//! [`GenerationParams::max_new_tokens`] tokens, one at a time, each chosen by the registration's
//! [`Decoding`] from the model's next-token scores. Executors agree on the token ids: the
//! comparison rule of such a model is [`ComparisonRule::Tokens`](crate::comparison::ComparisonRule),
//! which compares the whole revealed [`Generation`] (prompt length, token ids and their text)
//! byte for byte.

use codec::{Decode, DecodeAll, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use alloc::{string::String, vec::Vec};

/// Largest [`GenerationParams::max_prompt_tokens`] a registration may set.
pub const MAX_PROMPT_TOKENS: u32 = 2048;

/// Largest [`GenerationParams::max_new_tokens`] a registration may set.
pub const MAX_NEW_TOKENS: u32 = 512;

/// Most stop tokens a registration lists (besides the model's end-of-sequence token).
pub const MAX_STOP_TOKENS: usize = 4;

/// Bytes of [`Generation::text`] per token of [`GenerationParams::max_new_tokens`]: generation
/// stops before a token that would make the text longer than `max_new_tokens` times this (most
/// tokens are a few bytes; a vocabulary may have tokens of 60 spaces or dashes). So a generation's
/// size is bounded without bounding the vocabulary.
pub const MAX_TEXT_BYTES_PER_TOKEN: u32 = 32;

/// Largest [`Decoding::Sample`] temperature, in thousandths.
pub const MAX_TEMPERATURE_MILLI: u16 = 4000;

/// How each next token is chosen from the model's scores.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum Decoding {
	/// The highest-scoring token (the lowest id among equal scores).
	#[codec(index = 0)]
	Greedy,
	/// A token drawn from the scores divided by the temperature, restricted to the smallest set
	/// of most likely tokens whose probability reaches `top_p`. The draws come from a generator
	/// seeded from the task (see `opg_inference`'s generation module), so every executor draws
	/// the same tokens.
	#[codec(index = 1)]
	Sample {
		/// Temperature in thousandths (`1..=`[`MAX_TEMPERATURE_MILLI`]).
		temperature_milli: u16,
		/// Nucleus probability in thousandths (`1..=1000`).
		top_p_milli: u16,
	},
}

/// How a request's input becomes the prompt.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub enum PromptFormat {
	/// The input is the prompt, as it is (UTF-8 text; [`InputKind::Text`](crate::descriptor::InputKind)).
	#[codec(index = 0)]
	Raw,
	/// The input is chat messages ([`InputKind::Chat`](crate::descriptor::InputKind)), rendered
	/// with the model's chat template, ending with the assistant's turn.
	#[codec(index = 1)]
	Chat,
}

/// What a registration fixes about generation: how the prompt is made, bounds on work, when to
/// stop, and how to pick tokens. Part of the model's [`Architecture`](crate::descriptor::Architecture), so every
/// executor generates under the same parameters.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Debug,
	Hash,
)]
pub struct GenerationParams {
	/// How the input becomes the prompt.
	pub prompt: PromptFormat,
	/// Most tokens of a prompt (after the chat template); a longer one is rejected
	/// ([`Rejection::TooManyTokens`](crate::task::Rejection)). `1..=`[`MAX_PROMPT_TOKENS`].
	pub max_prompt_tokens: u32,
	/// Most tokens generated. `1..=`[`MAX_NEW_TOKENS`]. Generation also stops before the text
	/// would exceed `max_new_tokens ·` [`MAX_TEXT_BYTES_PER_TOKEN`] bytes.
	pub max_new_tokens: u32,
	/// Tokens that end generation besides the model's end-of-sequence token (and are kept as
	/// the last generated token); unused slots are `None`.
	pub stop_tokens: [Option<u32>; MAX_STOP_TOKENS],
	/// How each next token is chosen.
	pub decoding: Decoding,
}

/// Why [`GenerationParams`] are not acceptable for registration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InvalidGeneration {
	/// `max_prompt_tokens` is zero or above [`MAX_PROMPT_TOKENS`].
	PromptLimit,
	/// `max_new_tokens` is zero or above [`MAX_NEW_TOKENS`].
	NewTokenLimit,
	/// A temperature of zero or above [`MAX_TEMPERATURE_MILLI`], or a `top_p` of zero or
	/// above 1000.
	Sampling,
}

impl GenerationParams {
	/// Checks the bounds (see the fields).
	pub fn validate(&self) -> Result<(), InvalidGeneration> {
		if self.max_prompt_tokens == 0 || self.max_prompt_tokens > MAX_PROMPT_TOKENS {
			return Err(InvalidGeneration::PromptLimit);
		}
		if self.max_new_tokens == 0 || self.max_new_tokens > MAX_NEW_TOKENS {
			return Err(InvalidGeneration::NewTokenLimit);
		}
		if let Decoding::Sample { temperature_milli, top_p_milli } = self.decoding {
			if temperature_milli == 0
				|| temperature_milli > MAX_TEMPERATURE_MILLI
				|| top_p_milli == 0
				|| top_p_milli > 1000
			{
				return Err(InvalidGeneration::Sampling);
			}
		}
		Ok(())
	}

	/// Whether `token` ends generation (the model's end-of-sequence token is checked apart).
	pub fn is_stop(&self, token: u32) -> bool {
		self.stop_tokens.contains(&Some(token))
	}

	/// Most bytes of a generation's text: `max_new_tokens ·` [`MAX_TEXT_BYTES_PER_TOKEN`].
	pub fn max_text_bytes(&self) -> u32 {
		self.max_new_tokens.saturating_mul(MAX_TEXT_BYTES_PER_TOKEN)
	}

	/// Longest SCALE encoding of a [`Generation`] under these parameters: what the chain must
	/// accept as a revealed output.
	pub fn max_output_bytes(&self) -> u32 {
		let tokens = self.max_new_tokens;
		// prompt_tokens (4), two compact lengths (at most 5 each), the ids and the text.
		14u32
			.saturating_add(tokens.saturating_mul(4))
			.saturating_add(tokens.saturating_mul(MAX_TEXT_BYTES_PER_TOKEN))
	}
}

/// What an executor of a causal language model reveals, SCALE-encoded: the prompt's length in
/// tokens, the generated token ids, and their text.
#[derive(Clone, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, TypeInfo, Debug, Default)]
pub struct Generation {
	/// Tokens of the prompt (after the chat template): what the prompt fee is charged for.
	pub prompt_tokens: u32,
	/// The generated token ids, the last one a stop token if generation stopped early.
	pub tokens: Vec<u32>,
	/// The generated tokens decoded to UTF-8 by the model's tokenizer (special tokens left out),
	/// every invalid sequence replaced by U+FFFD; at most
	/// [`GenerationParams::max_text_bytes`].
	pub text: String,
}

impl Generation {
	/// The revealed bytes as a [`Generation`], if they are one exactly (no trailing bytes).
	pub fn decode_output(bytes: &[u8]) -> Option<Self> {
		Self::decode_all(&mut &bytes[..]).ok()
	}

	/// The canonical form of revealed bytes: their [`Generation`] re-encoded, so that two
	/// encodings of the same generation (e.g. a non-minimal compact length) cannot differ.
	pub fn canonical(bytes: &[u8]) -> Option<Vec<u8>> {
		Self::decode_output(bytes).map(|generation| generation.encode())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn params() -> GenerationParams {
		GenerationParams {
			prompt: PromptFormat::Chat,
			max_prompt_tokens: 512,
			max_new_tokens: 64,
			stop_tokens: [Some(2), None, None, None],
			decoding: Decoding::Greedy,
		}
	}

	#[test]
	fn bounds_are_checked() {
		assert_eq!(params().validate(), Ok(()));
		let p = GenerationParams { max_prompt_tokens: 0, ..params() };
		assert_eq!(p.validate(), Err(InvalidGeneration::PromptLimit));
		let p = GenerationParams { max_prompt_tokens: MAX_PROMPT_TOKENS + 1, ..params() };
		assert_eq!(p.validate(), Err(InvalidGeneration::PromptLimit));
		let p = GenerationParams { max_new_tokens: 0, ..params() };
		assert_eq!(p.validate(), Err(InvalidGeneration::NewTokenLimit));
		let p = GenerationParams { max_new_tokens: MAX_NEW_TOKENS + 1, ..params() };
		assert_eq!(p.validate(), Err(InvalidGeneration::NewTokenLimit));
		for (t, p) in [(0, 900), (MAX_TEMPERATURE_MILLI + 1, 900), (700, 0), (700, 1001)] {
			let decoding = Decoding::Sample { temperature_milli: t, top_p_milli: p };
			let p = GenerationParams { decoding, ..params() };
			assert_eq!(p.validate(), Err(InvalidGeneration::Sampling));
		}
		let decoding = Decoding::Sample { temperature_milli: 700, top_p_milli: 1000 };
		assert_eq!(GenerationParams { decoding, ..params() }.validate(), Ok(()));
		assert!(params().is_stop(2) && !params().is_stop(0));
	}

	#[test]
	fn the_longest_generation_fits_its_bound() {
		let p = GenerationParams { max_new_tokens: MAX_NEW_TOKENS, ..params() };
		let longest = Generation {
			prompt_tokens: u32::MAX,
			tokens: vec![u32::MAX; MAX_NEW_TOKENS as usize],
			text: "x".repeat((MAX_NEW_TOKENS * MAX_TEXT_BYTES_PER_TOKEN) as usize),
		};
		assert!(longest.encode().len() as u32 <= p.max_output_bytes());
	}

	#[test]
	fn canonical_form_is_the_strict_re_encoding() {
		let generation =
			Generation { prompt_tokens: 7, tokens: vec![1, 2, 3], text: "hi there".into() };
		let bytes = generation.encode();
		assert_eq!(Generation::canonical(&bytes), Some(bytes.clone()));
		assert_eq!(Generation::decode_output(&bytes), Some(generation));
		// Trailing bytes, truncation and invalid UTF-8 are not a generation.
		let mut longer = bytes.clone();
		longer.push(0);
		assert_eq!(Generation::canonical(&longer), None);
		assert_eq!(Generation::canonical(&bytes[..bytes.len() - 1]), None);
		let bad = Generation { prompt_tokens: 1, tokens: vec![], text: String::new() };
		let mut bad = bad.encode();
		bad.pop();
		bad.extend_from_slice(&[4, 0xff]);
		assert_eq!(Generation::canonical(&bad), None);
	}
}
