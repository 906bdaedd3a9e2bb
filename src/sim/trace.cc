#include "sim/trace.h"

#include <cstdio>
#include <utility>

#include "sim/hash.h"

namespace dkv::sim {

namespace {

const char* kind_name(EventKind k) {
  switch (k) {
    case EventKind::kTick: return "tick";
    case EventKind::kDeliver: return "deliver";
    case EventKind::kDrop: return "drop";
    case EventKind::kDuplicate: return "duplicate";
    case EventKind::kCrash: return "crash";
    case EventKind::kRestart: return "restart";
    case EventKind::kStop: return "stop";
    case EventKind::kAddNode: return "add-node";
    case EventKind::kPartition: return "partition";
    case EventKind::kHeal: return "heal";
    case EventKind::kRole: return "role";
    case EventKind::kPropose: return "propose";
    case EventKind::kConfChange: return "conf-change";
    case EventKind::kTransfer: return "transfer";
    case EventKind::kCampaign: return "campaign";
    case EventKind::kRead: return "read";
    case EventKind::kReadServed: return "read-served";
    case EventKind::kCompact: return "compact";
    case EventKind::kInstallSnapshot: return "install-snapshot";
    case EventKind::kNote: return "note";
  }
  return "?";
}

std::string u(uint64_t v) { return std::to_string(v); }

}  // namespace

Event Event::message(uint64_t time, EventKind kind, const raft::Message& m) {
  Event e;
  e.time = time;
  e.kind = kind;
  e.node = m.from;
  e.peer = m.to;
  e.msg = m.type;
  e.term = m.term;
  e.index = m.index;
  e.log_term = m.log_term;
  e.commit = m.commit;
  e.count = m.type == raft::MessageType::kSnapshot || m.type == raft::MessageType::kSnapshotResp
                ? m.snap_offset
                : m.entries.size();
  e.reject = m.reject;
  if (m.type == raft::MessageType::kSnapshot) e.index = m.snapshot.index;
  return e;
}

void Trace::add(Event e) {
  uint64_t h = digest_;
  for (uint64_t v : {e.time, static_cast<uint64_t>(e.kind), e.node, e.peer,
                     static_cast<uint64_t>(e.msg), e.term, e.index, e.log_term, e.commit, e.count,
                     static_cast<uint64_t>(e.reject)}) {
    h = hash_combine(h, v);
  }
  if (!e.text.empty()) h = hash_combine(h, hash_bytes(e.text));
  digest_ = h;
  ++count_;
  if (echo_) std::printf("%s\n", format(e).c_str());
  if (keep_ == 0) return;
  if (tail_.size() == keep_) tail_.pop_front();
  tail_.push_back(std::move(e));
}

std::string Trace::tail() const {
  std::string out;
  for (const Event& e : tail_) {
    out += "  ";
    out += format(e);
    out += '\n';
  }
  return out;
}

// Built by appending pieces: GCC 12 at -O3 warns falsely (-Wrestrict) on "literal" + string.
std::string Trace::format(const Event& e) {
  std::string s;
  auto add = [&s](auto... parts) { (s.append(parts), ...); };
  add("t=", u(e.time), " ", kind_name(e.kind));
  switch (e.kind) {
    case EventKind::kDeliver:
    case EventKind::kDrop:
    case EventKind::kDuplicate:
      add(" ", raft::message_type_name(e.msg), " ", u(e.node), "->", u(e.peer), " term=", u(e.term));
      if (e.msg == raft::MessageType::kSnapshot || e.msg == raft::MessageType::kSnapshotResp) {
        add(" snap=", u(e.index), " offset=", u(e.count));
      } else {
        add(" index=", u(e.index), " log_term=", u(e.log_term), " commit=", u(e.commit),
            " entries=", u(e.count));
      }
      if (e.reject) add(" REJECT");
      break;
    case EventKind::kRole:
      add(" node ", u(e.node), " is ", e.text, " term=", u(e.term), " leader=", u(e.peer));
      return s;
    case EventKind::kPropose:
    case EventKind::kConfChange:
      add(" at node ", u(e.node));
      if (e.reject) {
        add(" refused");
      } else {
        add(" index=", u(e.index), " term=", u(e.term));
      }
      break;
    case EventKind::kRead:
      add(" ", e.text, " at node ", u(e.node), " must see index>=", u(e.index));
      if (e.reject) add(" refused");
      return s;
    case EventKind::kReadServed:
      add(" ", e.text, " at node ", u(e.node), " read_index=", u(e.index), " applied=", u(e.commit));
      return s;
    case EventKind::kCompact:
    case EventKind::kInstallSnapshot:
      add(" node ", u(e.node), " index=", u(e.index), " term=", u(e.term));
      break;
    case EventKind::kTransfer:
      add(" ", u(e.node), "->", u(e.peer));
      if (e.reject) add(" refused");
      break;
    case EventKind::kCrash:
      add(" node ", u(e.node));
      if (e.count) add(" (torn write: kept ", u(e.index), " of its entries)");
      break;
    case EventKind::kTick:
    case EventKind::kRestart:
    case EventKind::kStop:
    case EventKind::kAddNode:
    case EventKind::kCampaign:
      add(" node ", u(e.node));
      break;
    case EventKind::kPartition:
    case EventKind::kHeal:
    case EventKind::kNote:
      break;
  }
  if (!e.text.empty()) add(" ", e.text);
  return s;
}

}  // namespace dkv::sim
