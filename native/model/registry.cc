// The registry: implementation name -> constructor. Hugging Face architecture names are listed once,
// in lib/models/architectures.ts, which maps each to a config and one of these implementations;
// a family that needs no new code reuses "decoder".
#include <functional>
#include <map>
#include <string>

#include "common/check.h"
#include "model/decoder.h"
#include "model/model.h"

namespace nodellm {

namespace {
using Constructor =
    std::function<std::unique_ptr<Model>(Backend&, const ModelConfig&, const WeightSource&, int)>;

const std::map<std::string, Constructor>& constructors() {
  static const std::map<std::string, Constructor> table = {
      {"decoder",
       [](Backend& b, const ModelConfig& c, const WeightSource& w, int max_positions) -> std::unique_ptr<Model> {
         return std::make_unique<DecoderModel>(b, c, w, max_positions);
       }},
  };
  return table;
}
}  // namespace

std::unique_ptr<Model> make_model(Backend& backend, const ModelConfig& config, const WeightSource& weights,
                                  int max_positions) {
  const auto& table = constructors();
  auto it = table.find(config.implementation);
  if (it == table.end()) {
    std::string names;
    for (const auto& [name, _] : table) names += (names.empty() ? "" : ", ") + name;
    fail("no model implementation \"", config.implementation, "\" for ", config.architecture, " (there are: ", names, ")");
  }
  return it->second(backend, config, weights, max_positions);
}

}  // namespace nodellm
