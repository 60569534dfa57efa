import os

import streamlit as st

st.title("Streamlit through spacerunner")
st.write(f"space id: {os.environ.get('SPACE_ID')}")
