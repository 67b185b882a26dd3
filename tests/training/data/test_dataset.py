import pytest
import torch

from model.lyrics.songtext import album_token
from model.serving.tokens import spec_of
from training.data.dataset import (
    IGNORE,
    add_album_tokens,
    load_corpus,
    pack,
    score_batches,
    tokenize_songs,
)
from training.errors import TrainingError
from training.evaluation.scoring import score_windows


def test_padding_is_masked_out_of_attention_and_loss():
    blocks = pack([[5, 6, 7], [8, 9]], block_size=4, pad_id=0)
    assert [b["input_ids"].tolist() for b in blocks] == [[5, 6, 7, 8], [9, 0, 0, 0]]
    assert blocks[1]["attention_mask"].tolist() == [1, 0, 0, 0]
    assert blocks[1]["labels"].tolist() == [9, IGNORE, IGNORE, IGNORE]
    assert blocks[0]["attention_mask"].tolist() == [1, 1, 1, 1]
    assert IGNORE not in blocks[0]["labels"].tolist()


def test_only_the_last_block_has_padding(example_corpus, tiny_base):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    corpus = load_corpus(example_corpus)
    docs = tokenize_songs(tokenizer, spec_of(tokenizer), corpus.train, set())
    blocks = pack(docs, 64, tokenizer.eos_token_id)
    masks = torch.stack([b["attention_mask"] for b in blocks])
    assert masks[:-1].all() and len(blocks) > 5


def test_each_song_starts_with_its_album_header_and_ends_with_eos(example_corpus, tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    corpus = load_corpus(example_corpus)
    tokens = add_album_tokens(tokenizer, model, corpus.albums)
    rows = model.get_input_embeddings().weight.shape[0]
    assert rows >= len(tokenizer) and rows % 64 == 0  # grown to a multiple of 64
    docs = tokenize_songs(tokenizer, spec_of(tokenizer), corpus.train, set(corpus.albums))
    for song, doc in zip(corpus.train, docs, strict=True):
        assert doc[0] == tokenizer.convert_tokens_to_ids(album_token(song["album"]))
        assert tokenizer.decode(doc[1:2]) == "\n"
        assert doc[-1] == tokenizer.eos_token_id
        assert sum(t == tokenizer.eos_token_id for t in doc) == 1
    assert sorted(tokens) == sorted(album_token(a) for a in corpus.albums)


def test_songs_have_no_header_when_headers_are_off(example_corpus, tiny_base):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    corpus = load_corpus(example_corpus)
    doc = tokenize_songs(tokenizer, spec_of(tokenizer), corpus.train[:1], set())[0]
    assert tokenizer.decode(doc[:-1]) == corpus.train[0]["lyrics"]


def test_a_folder_that_is_not_a_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingError, match=r"missing train\.jsonl, val\.jsonl, manifest\.json"):
        load_corpus(tmp_path)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_documents_follow_each_tokenizers_conventions(example_corpus, tiny_family, family):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_family(family))
    model = AutoModelForCausalLM.from_pretrained(tiny_family(family))
    rows = model.get_input_embeddings().weight.shape[0]
    add_album_tokens(tokenizer, model, ["Red"])
    assert model.get_input_embeddings().weight.shape[0] >= rows  # never shrunk (Qwen2 pads)
    spec = spec_of(tokenizer)
    doc = tokenize_songs(tokenizer, spec, load_corpus(example_corpus).train[:1], set())[0]
    bos = [tokenizer.bos_token_id] if family == "llama" else []
    assert doc[:len(bos)] == bos and doc[-1] == tokenizer.eos_token_id


def test_text_spelling_a_special_token_never_becomes_one(tiny_family):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_family("llama"))
    spec = spec_of(tokenizer)
    song = {"lyrics": "[Verse]\nI wrote </s> on the wall\nand <s> on the door", "album": None}
    doc = tokenize_songs(tokenizer, spec, [song], set())[0]
    assert doc.count(tokenizer.eos_token_id) == 1 and doc[-1] == tokenizer.eos_token_id
    assert doc.count(tokenizer.bos_token_id) == 1 and doc[0] == tokenizer.bos_token_id


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_scores_exactly_the_tokens_the_report_scores(example_corpus, tiny_family,
                                                              tiny_albums, family):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.evaluation.scoring import score_songs

    folder = tiny_albums if family == "gpt2" else tiny_family(family)  # with album tokens
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    spec = spec_of(tokenizer)
    songs = load_corpus(example_corpus).train[:4]
    songs[0] = {**songs[0], "album": "Red"}  # one the gpt2 model has a token for
    windows = score_windows(tokenizer, spec, songs, block_size=48)  # several a song
    total, tokens = 0.0, 0
    with torch.no_grad():
        for batch in score_batches(windows, 3, tokenizer.eos_token_id):
            scored = int((batch["labels"][:, 1:] != IGNORE).sum())
            total += model(**batch).loss.item() * scored
            tokens += scored
    report = score_songs(model, tokenizer, spec, songs, block_size=48)
    assert tokens == report.tokens
    assert total / tokens == pytest.approx(report.loss, rel=1e-5)
