"""Built-in black-box classifiers (EfficientNet-Lite0, CIFAR ResNets, any torchvision model)."""
