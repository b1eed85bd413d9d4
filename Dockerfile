# syntax=docker/dockerfile:1.7
# The nodellm RunPod worker: a drop-in for worker-vllm (README, "RunPod worker").
# Written without a Docker engine at hand: it has not been built yet.
#
# Option 1, the model from the environment at start-up:
#   docker build -t nodellm-worker .
# Option 2, a model baked into the image (BuildKit; the token never lands in a layer):
#   DOCKER_BUILDKIT=1 docker build -t my-worker --secret id=HF_TOKEN \
#     --build-arg MODEL_NAME=org/model --build-arg BASE_PATH=/models .
ARG WORKER_CUDA_VERSION=12.8.1
ARG NODE_VERSION=20.19.5

FROM nvidia/cuda:${WORKER_CUDA_VERSION}-devel-ubuntu22.04 AS build
ARG NODE_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl xz-utils g++ make cmake python3 \
 && rm -rf /var/lib/apt/lists/* \
 && curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
    | tar -xJ -C /usr/local --strip-components=1 --exclude='*/include' --exclude='*/share'
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
# The native addon: the CPU backend for any x86-64 CPU (not the build machine's), and the CUDA
# backend, which CMakeLists.txt builds where nvcc and cuBLAS are found (they are, in this image).
RUN npx cmake-js compile --log-level warn --CDNODELLM_NATIVE_ARCH=OFF \
 && npm run build:ts \
 && npm prune --omit=dev

FROM nvidia/cuda:${WORKER_CUDA_VERSION}-runtime-ubuntu22.04
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
COPY --from=build /app/build/Release/nodellm.node ./build/Release/nodellm.node

# The HF cache is $BASE_PATH/huggingface-cache/hub (a network volume mounted at /runpod-volume
# keeps it across cold starts). When baking, use another BASE_PATH: a volume mounted over it
# would hide the baked files.
ARG BASE_PATH=/runpod-volume
ENV BASE_PATH=${BASE_PATH} \
    NODE_ENV=production

# Option 2: bake a model. `nodellm download` records it in /local_model_args.json, which the
# worker prefers to MODEL_NAME at run time, loading it offline.
ARG MODEL_NAME=""
ARG MODEL_REVISION=""
ARG TOKENIZER_NAME=""
ARG TOKENIZER_REVISION=""
ARG QUANTIZATION=""
RUN --mount=type=secret,id=HF_TOKEN,required=false \
    if [ -n "$MODEL_NAME" ]; then \
      HF_TOKEN="$(cat /run/secrets/HF_TOKEN 2>/dev/null || true)" QUANTIZATION="$QUANTIZATION" \
      node bin/nodellm.js download "$MODEL_NAME" \
        ${MODEL_REVISION:+--revision "$MODEL_REVISION"} \
        ${TOKENIZER_NAME:+--tokenizer "$TOKENIZER_NAME"} \
        ${TOKENIZER_REVISION:+--tokenizer-revision "$TOKENIZER_REVISION"} \
        --write-model-args /local_model_args.json; \
    fi

CMD ["node", "/app/bin/nodellm.js", "worker"]
