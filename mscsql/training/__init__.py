"""Fine-tuning: dataset builders for the linker, the generators and the critic, and the training recipes
(LoRA/QLoRA for causal LMs, listwise training for the encoder critic). torch, transformers, peft and datasets
are imported only inside the functions that need them."""
