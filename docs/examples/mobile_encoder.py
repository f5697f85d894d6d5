"""A MobileNet-style image encoder as a workbench plug-in: depthwise-separable conv stages.

Use it from a config: plugins = ["mobile_encoder.py"], then
[student.encoders.image] type = "mobile_cnn". Its keyword parameters (with defaults) are
its config parameters; the model panel lists it with the image encoders.
"""

from torch import nn

from workbench.registry import register_encoder


@register_encoder("mobile_cnn", modality="image")
class MobileConvEncoder(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 stages (Howard et al. 2017), width doubling, stride 2 after the first."""

    def __init__(self, spec, *, width: int = 16, depth: int = 3):
        super().__init__()
        layers = [nn.Conv2d(spec["channels"], width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
        for stage in range(depth):
            out = width * 2**stage
            stride = 1 if stage == 0 else 2
            layers += [nn.Conv2d(channels, channels, 3, stride, padding=1, groups=channels, bias=False),
                       nn.BatchNorm2d(channels), nn.ReLU(),
                       nn.Conv2d(channels, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_dim = channels

    def forward(self, x):
        return self.body(x)
