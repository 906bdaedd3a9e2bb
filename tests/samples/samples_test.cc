// Every sample (samples/), run as users run it: against an embedded store, and against a real
// three-node cluster (--endpoints with every member). Each must exit 0 (its invariants held)
// and say so.
#include <sys/wait.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"

namespace dkv::testing {
namespace {

std::vector<std::string> sample_names() {
  std::vector<std::string> names;
  std::stringstream list(DKV_SAMPLE_NAMES);
  for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  return names;
}

// Runs sample-`name` with `args`; returns its output and sets *exit_code.
std::string run_sample(const std::string& name, const std::string& args, int* exit_code) {
  int status = -1;
  std::string out = run_shell(std::string(DKV_SAMPLES_DIR) + "/sample-" + name + " " + args + " 2>&1", &status);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class SampleTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<DkvCluster>(3);
    if (!cluster_->start() || cluster_->await_leader() == 0) cluster_.reset();
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  static std::unique_ptr<DkvCluster> cluster_;
};

std::unique_ptr<DkvCluster> SampleTest::cluster_;

TEST_P(SampleTest, HoldsItsInvariantsEmbedded) {
  int code = -1;
  const std::string out = run_sample(GetParam(), "", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("sample-" + GetParam() + ": every check held"), std::string::npos) << out;
  EXPECT_EQ(out.find("BROKEN"), std::string::npos) << out;
}

TEST_P(SampleTest, HoldsItsInvariantsAgainstAThreeNodeCluster) {
  ASSERT_TRUE(cluster_) << "the cluster did not start";
  std::string endpoints;
  for (int id = 1; id <= cluster_->size(); ++id) {
    endpoints += (id > 1 ? "," : "") + std::string("127.0.0.1:") + std::to_string(cluster_->port(id));
  }
  int code = -1;
  const std::string out = run_sample(GetParam(), "--endpoints " + endpoints, &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("store: dkv://"), std::string::npos) << out;
  EXPECT_NE(out.find("sample-" + GetParam() + ": every check held"), std::string::npos) << out;
}

TEST(SampleFlagsTest, AnUnknownFlagIsRefusedAndHelpExplains) {
  int code = -1;
  std::string out = run_sample("basic", "--bogus", &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("unknown argument '--bogus'"), std::string::npos) << out;
  out = run_sample("basic", "--help", &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("usage: sample-basic [--endpoints host:port,...]"), std::string::npos) << out;
  out = run_sample("basic", "--endpoints 127.0.0.1:1", &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("FAILED: connecting to dkv://127.0.0.1:1"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleTest, ::testing::ValuesIn(sample_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;  // test names take no '-'
                           for (char& ch : name) ch = ch == '-' ? '_' : ch;
                           return name;
                         });

}  // namespace
}  // namespace dkv::testing
