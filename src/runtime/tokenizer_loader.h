// Finds a model's tokenizer: the vocabulary inside a GGUF file, or
// tokenizer.json / tokenizer.model in a Hugging Face folder, or a file the
// user names; and checks that it fits the model.
#pragma once

#include <string>

#include "tokenizer/tokenizer.h"

namespace gemma {

class GgufFile;
struct ModelSource;
struct ModelSpec;

// Throws gemma::Error naming the file when none is found or it is malformed.
Tokenizer LoadTokenizer(const ModelSource& source, const std::string& override_path);
Tokenizer LoadTokenizerFile(const std::string& path);
// The vocabulary in a GGUF file's metadata: tokenizer.ggml.model "llama"
// (SentencePiece BPE, Gemma 1-3n) or "gemma4" (BPE with tokenizer.ggml.merges).
Tokenizer TokenizerFromGguf(const GgufFile& file);

// Where LoadTokenizer(source, override_path) takes the vocabulary from, in
// words: the override path, "<file> (GGUF metadata)", or the folder's file.
std::string TokenizerOrigin(const ModelSource& source, const std::string& override_path);

// A tokenizer "matches" when every id it can produce has an embedding row.
void CheckTokenizerMatchesModel(const Tokenizer& tokenizer, const ModelSpec& spec,
                                const std::string& origin);

}  // namespace gemma
