// RedactSecrets: every field marked (fanout.config.v1.secret) is hidden, at
// any depth and in every shape; nothing else changes.
#include "node/config/redact.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fanout/test/v1/secrets.pb.h"
#include "node/config/yaml_proto.h"
#include "tests/support/status_matchers.h"

namespace fanout {
namespace {

using ::fanout::testing::IsOk;
using test::v1::Vault;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kVault[] = R"(
name: front
password: hunter2
key: c2VjcmV0
tokens: [t1, t2]
headers: {authorization: "Bearer abc", x-team: blue}
pin: 1234
maybe: ""
inner: {name: inner, password: p-inner, inner: {password: p-deep}}
list: [{name: one, password: p-one}, {name: two}]
by_name: {a: {name: a, headers: {k: v}}}
)";

TEST(RedactSecretsTest, HidesEverySecretFieldAtAnyDepthAndNothingElse) {
  Vault vault;
  ASSERT_THAT(YamlTextToMessage(kVault, "test", &vault), IsOk());
  RedactSecrets(&vault);
  EXPECT_EQ(vault.name(), "front");
  EXPECT_EQ(vault.password(), kRedacted);
  EXPECT_EQ(vault.key(), kRedacted);
  EXPECT_THAT(vault.tokens(), ElementsAre(kRedacted, kRedacted));
  // A map keeps its keys (what is there), not its values.
  EXPECT_THAT(vault.headers(),
              UnorderedElementsAre(Pair("authorization", kRedacted), Pair("x-team", kRedacted)));
  EXPECT_EQ(vault.pin(), 0);  // Not text: cleared.
  EXPECT_TRUE(vault.has_maybe());
  EXPECT_EQ(vault.maybe(), kRedacted);  // Set, even to "": it says nothing of the value.
  EXPECT_EQ(vault.empty_secret(), "");  // Unset stays unset.
  EXPECT_EQ(vault.inner().name(), "inner");
  EXPECT_EQ(vault.inner().password(), kRedacted);
  EXPECT_EQ(vault.inner().inner().password(), kRedacted);
  ASSERT_EQ(vault.list_size(), 2);
  EXPECT_EQ(vault.list(0).name(), "one");
  EXPECT_EQ(vault.list(0).password(), kRedacted);
  EXPECT_EQ(vault.list(1).password(), "");
  EXPECT_EQ(vault.by_name().at("a").name(), "a");
  EXPECT_THAT(vault.by_name().at("a").headers(), UnorderedElementsAre(Pair("k", kRedacted)));
  EXPECT_EQ(vault.DebugString().find("hunter2"), std::string::npos);
}

TEST(RedactSecretsTest, AMessageWithoutSecretsIsUnchanged) {
  Vault vault;
  vault.set_name("plain");
  vault.mutable_inner()->set_name("also plain");
  Vault before = vault;
  RedactSecrets(&vault);
  EXPECT_EQ(vault.SerializeAsString(), before.SerializeAsString());
}

}  // namespace
}  // namespace fanout
