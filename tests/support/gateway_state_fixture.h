// A GatewayState (gateway/gateway_state.h) over a real lab backend on
// 127.0.0.1:0, and a front server whose loops a door runs on: for the tests
// of one door or the proxy at a time, without the rest of Gateway.
//
//   class RestDoorTest : public testing::GatewayStateTest {};
//   TEST_F(RestDoorTest, Answers) {
//     MakeState("rest_address: 127.0.0.1:0\nroutes: [...]");   // backend "lab"
//     RestDoor door(*state_, *RestDoor::OptionsFromConfig(state_->config()));
//     ASSERT_THAT(door.Start(front_.loops()), IsOk());
//   }
//
// The servers shut down in TearDown, before the test's members (its doors)
// are destroyed: no call reaches a door that is gone.
#pragma once

#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/gateway_state.h"
#include "node/config/yaml_proto.h"
#include "node/rpc/server.h"
#include "services/lab/lab_service.h"
#include "tests/support/status_matchers.h"

namespace fanout::testing {

class GatewayStateTest : public ::testing::Test {
 protected:
  GatewayStateTest() {
    lab_config_.add_services("fanout.lab.v1.Lab");
    lab_.Register(backend_);
    EXPECT_THAT(backend_.Start(), IsOk());
    lab_.Serve(backend_);
  }
  void TearDown() override {
    front_.Shutdown(absl::Seconds(1));
    backend_.Shutdown(absl::Seconds(1));
  }

  // `yaml`: the gateway section. One backend, "lab", serving fanout.lab.v1.Lab
  // (lab_config_ as the test left it).
  void MakeState(const std::string& yaml) {
    config::v1::GatewayConfig config;
    ASSERT_THAT(YamlTextToMessage(yaml, "test", &config), IsOk());
    auto state =
        gateway::GatewayState::Create({.config = config, .backends = {{"lab", lab_config_}}});
    ASSERT_THAT(state, IsOk());
    state_ = *std::move(state);
    std::string target = absl::StrCat("127.0.0.1:", backend_.port());
    state_->ConnectBackends([target](const std::string&) {
      return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    });
  }

  Server backend_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 1}};
  Server front_{{.listen_addresses = {"127.0.0.1:0"}, .num_loops = 2}};
  lab::LabService lab_{{.name = "lab"}};
  config::v1::Backend lab_config_;
  std::unique_ptr<gateway::GatewayState> state_;
};

}  // namespace fanout::testing
