-- One database per service: no service reads another's tables.
CREATE DATABASE intake;
CREATE DATABASE referral;
CREATE DATABASE partners;
CREATE DATABASE reporting;
