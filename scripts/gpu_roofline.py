"""The GPU's own limits, measured in the same run as a benchmark: device-to-device copy bandwidth
(read + write) and the bf16 GEMM ceiling, with torch. Prints one JSON line."""
import json

import torch

def timed(fn, iters=20):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return sorted(times)[len(times) // 2]

n = 1 << 30  # 2 GiB of bf16
src = torch.randn(n, dtype=torch.bfloat16, device="cuda")
dst = torch.empty_like(src)
copy_s = timed(lambda: dst.copy_(src))
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
b = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
gemm_s = timed(lambda: a @ b)
print(json.dumps({
    "gpu": torch.cuda.get_device_name(0),
    "copy_tb_per_s": 2 * src.numel() * 2 / copy_s / 1e12,
    "bf16_gemm_tflops": 2 * 8192 ** 3 / gemm_s / 1e12,
}))
