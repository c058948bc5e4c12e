// The call page island: publish camera+microphone (simulcast), subscribe to everyone
// else, and the meeting layer on the same /ws/signal socket — waiting room, roster,
// chair control, chat, roll-call, quality and the recording indicator. The modules
// live in ./call/; docs/signalling.md is the contract with the server.

import { Meeting } from "./call/meeting";

const root = document.getElementById("call");
if (root) {
  const call = new Meeting(root);
  (window as unknown as { yiyunCall: Meeting }).yiyunCall = call;
  void call.start();
}
