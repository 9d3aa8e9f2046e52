"""The PyTorch tutorial (004), runnable beside the TF1 graphs; needs the optional torch extra."""
